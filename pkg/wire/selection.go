package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/imageflight/imageflight/pkg/glob"
)

// Limits of the selection keys.
const (
	// MaxPaths bounds the "path" list.
	MaxPaths = 10_000
	// MaxFileExtensions bounds the "fileExtensions" list.
	MaxFileExtensions = 64
	// MaxPartitionFilters bounds the "partitionFilters" list, and
	// MaxFilterValues the values of one "in" filter.
	MaxPartitionFilters = 256
	MaxFilterValues     = 10_000
)

// Partition filter operators (docs/protocol.md, "partitionFilters").
const (
	OpEq        = "="
	OpNe        = "!="
	OpLt        = "<"
	OpLe        = "<="
	OpGt        = ">"
	OpGe        = ">="
	OpIn        = "in"
	OpIsNull    = "isNull"
	OpIsNotNull = "isNotNull"
)

// PartitionFilter is one filter on a partition column: Value for the
// comparisons, Values for "in", neither for isNull and isNotNull. Values
// are JSON strings or numbers, kept as sent.
type PartitionFilter struct {
	Column string            `json:"column"`
	Op     string            `json:"op"`
	Value  json.RawMessage   `json:"value,omitempty"`
	Values []json.RawMessage `json:"values,omitempty"`
}

// UnmarshalJSON refuses unknown fields, so a misspelt "value" is not
// silently a filter without a value.
func (f *PartitionFilter) UnmarshalJSON(b []byte) error {
	type plain PartitionFilter
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("filter field %q must be a %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return fmt.Errorf("filter: %v", err)
	}
	*f = PartitionFilter(p)
	return nil
}

// MarshalJSON writes "values" whenever the filter has a list (an empty
// "in" list included), so a filter round-trips.
func (f PartitionFilter) MarshalJSON() ([]byte, error) {
	out := struct {
		Column string             `json:"column"`
		Op     string             `json:"op"`
		Value  json.RawMessage    `json:"value,omitempty"`
		Values *[]json.RawMessage `json:"values,omitempty"`
	}{Column: f.Column, Op: f.Op, Value: f.Value}
	if f.Values != nil || f.Op == OpIn {
		vs := f.Values
		if vs == nil {
			vs = []json.RawMessage{}
		}
		out.Values = &vs
	}
	return json.Marshal(out)
}

// pathsValue decodes "path": a string or a list of strings.
type pathsValue []string

func (p *pathsValue) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*p = []string{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil || list == nil {
		return errors.New("must be a string or a list of strings, got " + jsonKind(b))
	}
	if len(list) == 0 {
		*p = []string{} // refused by checkPaths, as a missing path is
		return nil
	}
	*p = list
	return nil
}

// invertedBool decodes "pixels" into HeaderOnly.
type invertedBool bool

func (v *invertedBool) UnmarshalJSON(b []byte) error {
	var x bool
	if err := json.Unmarshal(b, &x); err != nil {
		return errors.New("must be a bool, got " + jsonKind(b))
	}
	*v = invertedBool(!x)
	return nil
}

// jsonKind names the JSON type of a value, for messages.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string"
	case b[0] == '[':
		return "array"
	case b[0] == '{':
		return "object"
	case b[0] == 't', b[0] == 'f':
		return "bool"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

// checkPaths validates the path list: present, bounded, each a non-empty
// path without NUL whose glob (if any) parses.
func checkPaths(paths []string) error {
	if len(paths) == 0 {
		return &DescriptorError{Key: "path", Msg: "required"}
	}
	if len(paths) > MaxPaths {
		return &DescriptorError{Key: "path", Msg: fmt.Sprintf("more than %d paths (%d)", MaxPaths, len(paths))}
	}
	for i, p := range paths {
		at := ""
		if len(paths) > 1 {
			at = fmt.Sprintf("path %d: ", i)
		}
		if err := checkPath(p, true); err != "" {
			return &DescriptorError{Key: "path", Msg: at + err}
		}
	}
	return nil
}

// checkPath returns why p is not an acceptable path ("" when it is).
func checkPath(p string, globs bool) string {
	switch {
	case p == "":
		return "required"
	case len(p) > MaxPathBytes:
		return fmt.Sprintf("longer than %d bytes (%d)", MaxPathBytes, len(p))
	case strings.IndexByte(p, 0) >= 0:
		return "contains a NUL byte"
	case !strings.HasPrefix(p, "/") && !hasScheme(p):
		// The coordinator's working folder means nothing to a client (the
		// Python client makes its own relative paths absolute).
		return fmt.Sprintf("%q is relative: pass an absolute path or a URI (file:/…, hdfs://…)", truncate([]byte(p), 64))
	case !globs && glob.IsGlob(p):
		return fmt.Sprintf("cannot be a glob (holds one of %s)", glob.Meta)
	}
	if glob.IsGlob(p) {
		if err := glob.Validate(p); err != nil {
			return err.Error()
		}
	}
	return ""
}

// hasScheme reports whether p starts with a URI scheme ("hdfs:", "file:"),
// as RFC 3986 spells one; the coordinator refuses the schemes it does not
// serve.
func hasScheme(p string) bool {
	i := strings.IndexByte(p, ':')
	if i < 1 {
		return false
	}
	for j, c := range p[:i] {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// validateSelection checks the selection keys, in sorted key order.
func (d Descriptor) validateSelection() error {
	if d.BasePath != "" {
		if err := checkPath(d.BasePath, false); err != "" {
			return &DescriptorError{Key: "basePath", Msg: err}
		}
	}
	if err := checkExtensions(d.FileExtensions); err != nil {
		return err
	}
	if d.Limit != nil && *d.Limit < 0 {
		return &DescriptorError{Key: "limit", Msg: fmt.Sprintf("must be a file count >= 0, got %d", *d.Limit)}
	}
	if len(d.PartitionFilters) > MaxPartitionFilters {
		return &DescriptorError{Key: "partitionFilters", Msg: fmt.Sprintf("more than %d filters", MaxPartitionFilters)}
	}
	for i, f := range d.PartitionFilters {
		if err := f.check(); err != nil {
			return &DescriptorError{Key: "partitionFilters", Msg: fmt.Sprintf("filter %d: %v", i, err)}
		}
	}
	if d.PathGlobFilter != "" {
		if strings.IndexByte(d.PathGlobFilter, '/') >= 0 {
			return &DescriptorError{Key: "pathGlobFilter", Msg: "matches file names: it cannot hold a '/'"}
		}
		if _, err := glob.Compile(d.PathGlobFilter); err != nil {
			return &DescriptorError{Key: "pathGlobFilter", Msg: err.Error()}
		}
	}
	// With a model, "pixels": false leaves the pixels out of rows whose
	// features the model computed from them.
	if d.HeaderOnly && isNull(d.Model) && (!isNull(d.Transforms) || !isNull(d.Tensor)) {
		return &DescriptorError{Key: "pixels", Msg: "false (headers only) cannot be combined with transforms or tensor, except with a model"}
	}
	return nil
}

func checkExtensions(exts []string) error {
	if len(exts) > MaxFileExtensions {
		return &DescriptorError{Key: "fileExtensions", Msg: fmt.Sprintf("more than %d extensions", MaxFileExtensions)}
	}
	for _, e := range exts {
		switch x := strings.TrimPrefix(e, "."); {
		case x == "":
			return &DescriptorError{Key: "fileExtensions", Msg: fmt.Sprintf("%q is not an extension", e)}
		case strings.ContainsAny(x, "/\x00") || len(x) > 255:
			return &DescriptorError{Key: "fileExtensions", Msg: fmt.Sprintf("%.40q is not an extension (no '/' or NUL, at most 255 bytes)", e)}
		}
	}
	return nil
}

// check validates one filter's operator and operands.
func (f PartitionFilter) check() error {
	if f.Column == "" {
		return errors.New(`"column" is required`)
	}
	switch f.Op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
		if f.Values != nil {
			return fmt.Errorf(`op %q takes "value", not "values"`, f.Op)
		}
		return checkScalar(f.Value, "value")
	case OpIn:
		if f.Value != nil || f.Values == nil {
			return errors.New(`op "in" takes a "values" list`)
		}
		if len(f.Values) > MaxFilterValues {
			return fmt.Errorf(`"in" takes at most %d values`, MaxFilterValues)
		}
		for _, v := range f.Values {
			if err := checkScalar(v, "values"); err != nil {
				return err
			}
		}
		return nil
	case OpIsNull, OpIsNotNull:
		if f.Value != nil || f.Values != nil {
			return fmt.Errorf("op %q takes no value", f.Op)
		}
		return nil
	}
	return fmt.Errorf("op must be one of =, !=, <, <=, >, >=, in, isNull, isNotNull; got %.20q", f.Op)
}

// checkScalar accepts a JSON string or number.
func checkScalar(v json.RawMessage, field string) error {
	if v == nil {
		return fmt.Errorf("%q is required", field)
	}
	if k := jsonKind(v); k != "string" && k != "number" {
		return fmt.Errorf("%q must hold strings or numbers, got %s", field, k)
	}
	return nil
}
