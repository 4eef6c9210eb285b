package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Descriptor is the JSON command a client puts in its FlightDescriptor to
// plan a read. Field names and defaults follow Spark 2.3's readImages; the
// selection keys follow Spark's file sources (basePath, pathGlobFilter) and
// Ray Data (fileExtensions, limit). Its JSON form is MarshalJSON's.
type Descriptor struct {
	// Path is the path to read, or the first of Paths: set one or the
	// other (PathList gives the paths either way).
	Path string `json:"-"`
	// Paths are the paths to read, each possibly a glob (the "path" key as
	// a list, Spark's load(paths…)). ParseDescriptor fills both Paths and
	// Path.
	Paths             []string `json:"-"`
	Recursive         bool     `json:"recursive"`
	NumPartitions     int      `json:"numPartitions"`
	SampleRatio       float64  `json:"sampleRatio"`
	Seed              int64    `json:"seed"`
	DropImageFailures bool     `json:"dropImageFailures"`
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
	// Model is SynapseML ONNXModel's parameters (modelLocation, feedDict,
	// fetchDict, miniBatchSize, softMaxDict, argMaxDict): workers run the
	// model on the tensors and stream its outputs instead of the tensor.
	Model json.RawMessage `json:"model,omitempty"`
	// BasePath is where partition discovery starts (Spark's basePath):
	// every path must lie under it.
	BasePath string `json:"basePath,omitempty"`
	// PathGlobFilter keeps the files whose name matches this glob
	// (Spark's pathGlobFilter).
	PathGlobFilter string `json:"pathGlobFilter,omitempty"`
	// FileExtensions keeps the files with one of these extensions, case-
	// insensitively, with or without the dot (Ray's file_extensions).
	FileExtensions []string `json:"fileExtensions,omitempty"`
	// Limit, when set, keeps the n files of smallest hash(seed, path)
	// after sampling and partition filters (exact-count sampling).
	Limit *int `json:"limit,omitempty"`
	// PartitionFilters keep the files whose folders' partition values
	// pass every filter (Spark's pushed partition filters).
	PartitionFilters []PartitionFilter `json:"partitionFilters,omitempty"`
	// HeaderOnly ("pixels": false) makes workers read image headers only:
	// rows carry their size and channels and an empty data field.
	HeaderOnly bool `json:"-"`
	// FailureReasons adds a nullable string column "failure": why each
	// invalid row failed.
	FailureReasons bool `json:"failureReasons,omitempty"`
}

// FailureColumn is the nullable string column the descriptor's
// failureReasons adds: null for a good row, why the image failed for an
// invalid row.
const FailureColumn = "failure"

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
		"path": (*pathsValue)(&d.Paths), "recursive": &d.Recursive, "numPartitions": &d.NumPartitions,
		"sampleRatio": &d.SampleRatio, "seed": &d.Seed,
		"dropImageFailures": &d.DropImageFailures, "dropInvalid": &d.DropImageFailures,
		"transforms": &d.Transforms, "tensor": &d.Tensor, "fastResize": &d.FastResize, "model": &d.Model,
		"basePath": &d.BasePath, "pathGlobFilter": &d.PathGlobFilter, "fileExtensions": &d.FileExtensions,
		"limit": &d.Limit, "partitionFilters": &d.PartitionFilters, "pixels": (*invertedBool)(&d.HeaderOnly),
		"failureReasons": &d.FailureReasons,
	}
}

// ParseDescriptor decodes and validates a descriptor command. Unknown keys
// are refused, so a misspelt option never silently reads everything.
func ParseDescriptor(cmd []byte) (Descriptor, error) {
	d := DefaultDescriptor()
	if err := d.decode(cmd); err != nil {
		return Descriptor{}, err
	}
	return d, d.Validate()
}

// UnmarshalJSON decodes a command as ParseDescriptor does, without the
// range checks: unset keys take their defaults.
func (d *Descriptor) UnmarshalJSON(cmd []byte) error {
	*d = DefaultDescriptor()
	return d.decode(cmd)
}

// decode sets d's fields from a command's keys (types checked, ranges not).
func (d *Descriptor) decode(cmd []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &raw); err != nil {
		return &DescriptorError{Msg: "not a JSON object: " + err.Error()}
	}
	fields := d.fields()
	keys := slices.Sorted(maps.Keys(raw)) // the first problem reported does not depend on map order
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			return &DescriptorError{Key: k, Msg: "unknown key"}
		}
	}
	for _, k := range keys {
		dst := fields[k]
		dec := json.NewDecoder(bytes.NewReader(raw[k]))
		if err := dec.Decode(dst); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return &DescriptorError{Key: k, Msg: fmt.Sprintf("must be a %s, got %s", typeErr.Type, typeErr.Value)}
			}
			return &DescriptorError{Key: k, Msg: err.Error()}
		}
	}
	if len(d.Paths) > 0 {
		d.Path = d.Paths[0]
	}
	return nil
}

// Validate checks ranges; ParseDescriptor calls it.
func (d Descriptor) Validate() error {
	if err := checkPaths(d.PathList()); err != nil {
		return err
	}
	switch {
	case d.NumPartitions < -1 || d.NumPartitions == 0 || d.NumPartitions > MaxPartitions:
		return &DescriptorError{Key: "numPartitions", Msg: fmt.Sprintf("must be -1 (server default) or a count from 1 to %d, got %d", MaxPartitions, d.NumPartitions)}
	case math.IsNaN(d.SampleRatio) || d.SampleRatio < 0 || d.SampleRatio > 1:
		return &DescriptorError{Key: "sampleRatio", Msg: fmt.Sprintf("must be within [0, 1], got %v", d.SampleRatio)}
	}
	if err := d.validateSelection(); err != nil {
		return err
	}
	_, err := ParsePipeline(d.Transforms, d.Tensor, d.Model, d.FastResize)
	return err
}

// Command encodes d as the JSON command of a FlightDescriptor.
func (d Descriptor) Command() []byte {
	b, _ := json.Marshal(d) // plain fields: cannot fail
	return b
}

// MarshalJSON writes "path" as a string when there is one path and as a
// list otherwise, and "pixels": false for HeaderOnly.
func (d Descriptor) MarshalJSON() ([]byte, error) {
	type plain Descriptor // without methods, so Marshal does not recurse
	var path any = d.PathList()
	if l := d.PathList(); len(l) == 1 {
		path = l[0]
	}
	var pixels *bool
	if d.HeaderOnly {
		pixels = new(bool)
	}
	return json.Marshal(struct {
		Path any `json:"path"`
		plain
		Pixels *bool `json:"pixels,omitempty"`
	}{path, plain(d), pixels})
}

// PathList is Paths, or Path alone when Paths is empty.
func (d Descriptor) PathList() []string {
	if len(d.Paths) > 0 {
		return d.Paths
	}
	if d.Path != "" {
		return []string{d.Path}
	}
	return nil
}
