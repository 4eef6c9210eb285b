package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Descriptor is the JSON command a client puts in its FlightDescriptor to
// plan a read. Field names and defaults follow Spark 2.3's readImages.
type Descriptor struct {
	Path              string  `json:"path"`
	Recursive         bool    `json:"recursive"`
	NumPartitions     int     `json:"numPartitions"`
	SampleRatio       float64 `json:"sampleRatio"`
	Seed              int64   `json:"seed"`
	DropImageFailures bool    `json:"dropImageFailures"`
	// Transforms is SynapseML ImageTransformer's stage list, applied by the
	// workers to every decoded image (pkg/transform, docs/transforms.md).
	Transforms json.RawMessage `json:"transforms,omitempty"`
	// Tensor asks for a "tensor" column with SynapseML's toTensor
	// parameters; it needs Transforms that fix every image's size.
	Tensor json.RawMessage `json:"tensor,omitempty"`
	// FastResize lets a JPEG whose first stage shrinks it by 2× or more
	// decode at reduced scale (libjpeg-turbo's DCT scaling) before the
	// exact resize: faster, not byte-identical to decode + resize.
	FastResize bool `json:"fastResize,omitempty"`
}

// DefaultDescriptor holds readImages' defaults: not recursive, server-chosen
// partitions, no sampling, keep invalid rows.
func DefaultDescriptor() Descriptor {
	return Descriptor{NumPartitions: -1, SampleRatio: 1.0}
}

// Limits a descriptor must respect.
const (
	// MaxPartitions bounds numPartitions: a split is one endpoint with a
	// signed ticket, and a million endpoints is already a 100 MB FlightInfo
	// no client wants; more files than this share splits.
	MaxPartitions = 100_000
	// MaxPathBytes bounds the path (Linux's PATH_MAX), so an abusive path
	// is refused before it reaches storage or any log line.
	MaxPathBytes = 4096
)

// DescriptorError is a descriptor problem; Key names the offending field
// ("" when the command is not a JSON object at all).
type DescriptorError struct {
	Key string
	Msg string
}

func (e *DescriptorError) Error() string {
	if e.Key == "" {
		return "descriptor: " + e.Msg
	}
	return fmt.Sprintf("descriptor key %q: %s", e.Key, e.Msg)
}

// Unwrap makes every descriptor problem an invalid argument.
func (e *DescriptorError) Unwrap() error { return &Error{Kind: KindInvalidArgument, Msg: e.Error()} }

// fields maps each accepted key to its field; dropInvalid is the
// name Spark's image data source uses for dropImageFailures.
func (d *Descriptor) fields() map[string]any {
	return map[string]any{
		"path": &d.Path, "recursive": &d.Recursive, "numPartitions": &d.NumPartitions,
		"sampleRatio": &d.SampleRatio, "seed": &d.Seed,
		"dropImageFailures": &d.DropImageFailures, "dropInvalid": &d.DropImageFailures,
		"transforms": &d.Transforms, "tensor": &d.Tensor, "fastResize": &d.FastResize,
	}
}

// ParseDescriptor decodes and validates a descriptor command. Unknown keys
// are refused, so a misspelt option never silently reads everything.
func ParseDescriptor(cmd []byte) (Descriptor, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &raw); err != nil {
		return Descriptor{}, &DescriptorError{Msg: "not a JSON object: " + err.Error()}
	}
	d := DefaultDescriptor()
	fields := d.fields()
	keys := slices.Sorted(maps.Keys(raw)) // the first problem reported does not depend on map order
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			return Descriptor{}, &DescriptorError{Key: k, Msg: "unknown key"}
		}
	}
	for _, k := range keys {
		dst := fields[k]
		dec := json.NewDecoder(bytes.NewReader(raw[k]))
		if err := dec.Decode(dst); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return Descriptor{}, &DescriptorError{Key: k, Msg: fmt.Sprintf("must be a %s, got %s", typeErr.Type, typeErr.Value)}
			}
			return Descriptor{}, &DescriptorError{Key: k, Msg: err.Error()}
		}
	}
	return d, d.Validate()
}

// Validate checks ranges; ParseDescriptor calls it.
func (d Descriptor) Validate() error {
	switch {
	case d.Path == "":
		return &DescriptorError{Key: "path", Msg: "required"}
	case len(d.Path) > MaxPathBytes:
		return &DescriptorError{Key: "path", Msg: fmt.Sprintf("longer than %d bytes (%d)", MaxPathBytes, len(d.Path))}
	case strings.IndexByte(d.Path, 0) >= 0:
		return &DescriptorError{Key: "path", Msg: "contains a NUL byte"}
	case d.NumPartitions < -1 || d.NumPartitions == 0 || d.NumPartitions > MaxPartitions:
		return &DescriptorError{Key: "numPartitions", Msg: fmt.Sprintf("must be -1 (server default) or a count from 1 to %d, got %d", MaxPartitions, d.NumPartitions)}
	case math.IsNaN(d.SampleRatio) || d.SampleRatio < 0 || d.SampleRatio > 1:
		return &DescriptorError{Key: "sampleRatio", Msg: fmt.Sprintf("must be within [0, 1], got %v", d.SampleRatio)}
	}
	_, err := ParsePipeline(d.Transforms, d.Tensor, d.FastResize)
	return err
}

// Command encodes d as the JSON command of a FlightDescriptor.
func (d Descriptor) Command() []byte {
	b, _ := json.Marshal(d) // plain fields: cannot fail
	return b
}
