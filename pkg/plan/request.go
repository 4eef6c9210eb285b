// Package plan turns a read request into work: it validates the descriptor a
// client sent, lists the files under the requested path (skipping hidden
// entries, descending as the request asks), samples them reproducibly, cuts
// them into byte-balanced splits and orders the live workers for each split.
// The coordinator runs it; it never reads pixels.
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Request is the JSON command a client puts in its FlightDescriptor. Field
// names and defaults follow Spark 2.3's readImages.
type Request struct {
	Path              string  `json:"path"`
	Recursive         bool    `json:"recursive"`
	NumPartitions     int     `json:"numPartitions"`
	SampleRatio       float64 `json:"sampleRatio"`
	Seed              int64   `json:"seed"`
	DropImageFailures bool    `json:"dropImageFailures"`
}

// DefaultRequest holds readImages' defaults: not recursive, server-chosen
// partitions, no sampling, keep invalid rows.
func DefaultRequest() Request {
	return Request{NumPartitions: -1, SampleRatio: 1.0}
}

// RequestError is a descriptor problem; Key names the offending field.
type RequestError struct {
	Key string
	Msg string
}

func (e *RequestError) Error() string {
	if e.Key == "" {
		return "descriptor: " + e.Msg
	}
	return fmt.Sprintf("descriptor key %q: %s", e.Key, e.Msg)
}

// knownKeys lists the accepted keys; dropInvalid is the name Spark's image
// data source uses for dropImageFailures.
var knownKeys = map[string]bool{
	"path": true, "recursive": true, "numPartitions": true, "sampleRatio": true,
	"seed": true, "dropImageFailures": true, "dropInvalid": true,
}

// ParseRequest decodes and validates a descriptor command.
func ParseRequest(cmd []byte) (Request, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &raw); err != nil {
		return Request{}, &RequestError{Msg: "not a JSON object: " + err.Error()}
	}
	for k := range raw {
		if !knownKeys[k] {
			return Request{}, &RequestError{Key: k, Msg: "unknown key"}
		}
	}
	req := DefaultRequest()
	fields := []struct {
		key string
		dst any
	}{
		{"path", &req.Path}, {"recursive", &req.Recursive}, {"numPartitions", &req.NumPartitions},
		{"sampleRatio", &req.SampleRatio}, {"seed", &req.Seed},
		{"dropImageFailures", &req.DropImageFailures}, {"dropInvalid", &req.DropImageFailures},
	}
	for _, f := range fields {
		v, ok := raw[f.key]
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		if err := dec.Decode(f.dst); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return Request{}, &RequestError{Key: f.key, Msg: fmt.Sprintf("must be a %s, got %s", typeErr.Type, typeErr.Value)}
			}
			return Request{}, &RequestError{Key: f.key, Msg: err.Error()}
		}
	}
	return req, req.Validate()
}

// Validate checks ranges; ParseRequest calls it.
func (r Request) Validate() error {
	switch {
	case r.Path == "":
		return &RequestError{Key: "path", Msg: "required"}
	case r.NumPartitions < -1 || r.NumPartitions == 0:
		return &RequestError{Key: "numPartitions", Msg: fmt.Sprintf("must be -1 (server default) or a positive count, got %d", r.NumPartitions)}
	case math.IsNaN(r.SampleRatio) || r.SampleRatio < 0 || r.SampleRatio > 1:
		return &RequestError{Key: "sampleRatio", Msg: fmt.Sprintf("must be within [0, 1], got %v", r.SampleRatio)}
	}
	return nil
}
