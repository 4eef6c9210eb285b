package stage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxStages bounds the length of a stage list.
const MaxStages = 64

// ErrInvalidParam is wrapped by every ParamError, so callers can map any
// parse failure to one status (InvalidArgument) with errors.Is.
var ErrInvalidParam = errors.New("invalid transform parameter")

// ParamError names the offending element and key of a stage list or of the
// tensor parameters, e.g. "transforms[1].height: must be a positive
// integer, got -3" or "tensor.normalizeStd: must have 3 numbers, got 2".
type ParamError struct {
	Path  string // "transforms[1]", "transforms" or "tensor"
	Index int    // stage index, -1 when the error is not about one stage
	Key   string // the parameter, "" when about the element as a whole
	Msg   string
}

func (e *ParamError) Error() string {
	if e.Key == "" {
		return e.Path + ": " + e.Msg
	}
	return e.Path + "." + e.Key + ": " + e.Msg
}

func (e *ParamError) Unwrap() error { return ErrInvalidParam }

// stageKeys lists, per action, the keys SynapseML reads (besides "action").
var stageKeys = map[string][]string{
	"resize":         {"height", "width", "size", "keepAspectRatio", "interpolation"},
	"crop":           {"x", "y", "height", "width"},
	"centercrop":     {"height", "width"},
	"colorformat":    {"format"},
	"flip":           {"flipCode"},
	"blur":           {"height", "width"},
	"threshold":      {"threshold", "maxVal", "type"},
	"gaussiankernel": {"apertureSize", "sigma"},
}

var actionNames = "resize, crop, centercrop, colorformat, flip, blur, threshold, gaussiankernel"

// Parse reads an ordered JSON list of SynapseML ImageTransformer stages, each
// an object with "action" and that action's parameters. Everything is
// checked here (unknown action or key, missing key, wrong type, out of
// range), so a list that parses only fails on images it does not fit. A
// missing or null list is an empty pipeline.
func Parse(raw json.RawMessage) ([]Stage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var elems []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, &ParamError{Path: "transforms", Index: -1, Msg: "must be a list of stage objects"}
	}
	if len(elems) > MaxStages {
		return nil, &ParamError{Path: "transforms", Index: -1, Msg: fmt.Sprintf("at most %d stages, got %d", MaxStages, len(elems))}
	}
	stages := make([]Stage, 0, len(elems))
	for i, e := range elems {
		o, err := readObject(e, fmt.Sprintf("transforms[%d]", i), i)
		if err != nil {
			return nil, err
		}
		st, err := parseStage(o)
		if err != nil {
			return nil, err
		}
		stages = append(stages, st)
	}
	return stages, nil
}

// parseStage builds one stage from its object: one case per action, each
// naming its keys and ranges, so the whole vocabulary reads as one table.
func parseStage(o *object) (Stage, error) {
	action, err := o.str("action")
	if err != nil {
		return nil, err
	}
	keys, ok := stageKeys[action]
	if !ok {
		return nil, o.errf("action", "unknown action %q; want one of %s", action, actionNames)
	}
	if err := o.onlyKeys(append([]string{"action"}, keys...)); err != nil {
		return nil, err
	}
	switch action {
	case "resize":
		return parseResize(o)
	case "crop":
		var c Crop
		err := o.ints(intSpec{"x", &c.X, 0, maxOffset}, intSpec{"y", &c.Y, 0, maxOffset},
			intSpec{"height", &c.Height, 1, MaxDim}, intSpec{"width", &c.Width, 1, MaxDim})
		return c, err
	case "centercrop":
		var c CenterCrop
		err := o.ints(intSpec{"height", &c.Height, 1, MaxDim}, intSpec{"width", &c.Width, 1, MaxDim})
		return c, err
	case "colorformat":
		var c ColorFormat
		if err := o.ints(intSpec{"format", &c.Code, math.MinInt32, math.MaxInt32}); err != nil {
			return nil, err
		}
		if _, ok := colorCodes[c.Code]; !ok {
			return nil, o.errf("format", "unsupported cvtColor code %d; supported: 0-11 (conversions between BGR, RGB, BGRA, RGBA and GRAY)", c.Code)
		}
		return c, nil
	case "flip":
		var f Flip
		if err := o.ints(intSpec{"flipCode", &f.Code, math.MinInt32, math.MaxInt32}); err != nil {
			return nil, err
		}
		if f.Code < -1 || f.Code > 1 {
			return nil, o.errf("flipCode", "must be 0 (up-down), 1 (left-right) or -1 (both), got %d", f.Code)
		}
		return f, nil
	case "blur":
		// SynapseML types these as Double; only whole numbers make a kernel.
		var b Blur
		err := o.ints(intSpec{"height", &b.Height, 1, MaxBlurKernel}, intSpec{"width", &b.Width, 1, MaxBlurKernel})
		return b, err
	case "threshold":
		var t Threshold
		var err error
		if t.Threshold, err = o.num("threshold"); err != nil {
			return nil, err
		}
		if t.MaxVal, err = o.num("maxVal"); err != nil {
			return nil, err
		}
		err = o.ints(intSpec{"type", &t.Type, 0, 4})
		return t, err
	default: // gaussiankernel
		var g GaussianKernel
		if err := o.ints(intSpec{"apertureSize", &g.ApertureSize, 1, MaxAperture}); err != nil {
			return nil, err
		}
		var err error
		g.Sigma, err = o.num("sigma")
		return g, err
	}
}

func parseResize(o *object) (Stage, error) {
	var r Resize
	if o.has("interpolation") {
		s, err := o.str("interpolation")
		if err != nil {
			return nil, err
		}
		switch s {
		case "linear":
		case InterArea, InterAntialias:
			r.Interpolation = s
		default:
			return nil, o.errf("interpolation", "must be linear, area or antialias, got %q", s)
		}
	}
	if o.has("size") {
		for _, k := range []string{"height", "width"} {
			if o.has(k) {
				return nil, o.errf(k, "cannot be combined with size")
			}
		}
		if err := o.ints(intSpec{"size", &r.Size, 1, MaxDim}); err != nil {
			return nil, err
		}
		var err error
		r.KeepAspectRatio, err = o.boolean("keepAspectRatio")
		return r, err
	}
	if o.has("keepAspectRatio") {
		return nil, o.errf("keepAspectRatio", "only applies together with size")
	}
	err := o.ints(intSpec{"height", &r.Height, 1, MaxDim}, intSpec{"width", &r.Width, 1, MaxDim})
	return r, err
}

// object is one JSON object read with duplicate keys rejected, which
// encoding/json's map decoding would silently resolve to the last one.
type object struct {
	path  string
	index int
	order []string
	vals  map[string]json.RawMessage
}

func readObject(raw json.RawMessage, path string, index int) (*object, error) {
	o := &object{path: path, index: index, vals: map[string]json.RawMessage{}}
	notObject := &ParamError{Path: path, Index: index, Msg: "must be an object, got " + describe(raw)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject
	}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return nil, notObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		if _, dup := o.vals[key]; dup {
			return nil, o.errf(key, "given more than once")
		}
		o.order = append(o.order, key)
		o.vals[key] = v
	}
	return o, nil
}

func (o *object) errf(key, format string, args ...any) error {
	return &ParamError{Path: o.path, Index: o.index, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (o *object) has(key string) bool { _, ok := o.vals[key]; return ok }

func (o *object) onlyKeys(allowed []string) error {
	for _, k := range o.order {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return o.errf(k, "unknown key; allowed keys: %s", strings.Join(allowed[1:], ", "))
		}
	}
	return nil
}

func (o *object) get(key string) (json.RawMessage, error) {
	v, ok := o.vals[key]
	if !ok || string(v) == "null" {
		return nil, o.errf(key, "missing")
	}
	return v, nil
}

func (o *object) str(key string) (string, error) {
	v, err := o.get(key)
	if err != nil {
		return "", err
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", o.errf(key, "must be a string, got %s", describe(v))
	}
	return s, nil
}

func (o *object) boolean(key string) (bool, error) {
	v, err := o.get(key)
	if err != nil {
		return false, err
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return false, o.errf(key, "must be true or false, got %s", describe(v))
	}
	return b, nil
}

// num reads a finite JSON number.
func (o *object) num(key string) (float64, error) {
	v, err := o.get(key)
	if err != nil {
		return 0, err
	}
	n, ok := number(v)
	if !ok {
		return 0, o.errf(key, "must be a number, got %s", describe(v))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) {
		return 0, o.errf(key, "must be a finite number, got %s", n)
	}
	return f, nil
}

type intSpec struct {
	key      string
	dst      *int
	min, max int
}

// ints reads whole numbers (3 and 3.0 alike, since Python clients send
// floats for SynapseML's Double-typed keys) within [min, max].
func (o *object) ints(specs ...intSpec) error {
	for _, s := range specs {
		v, err := o.get(s.key)
		if err != nil {
			return err
		}
		n, ok := number(v)
		if !ok {
			return o.errf(s.key, "must be an integer, got %s", describe(v))
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return o.errf(s.key, "must be an integer, got %s", n)
			}
			i = int64(f)
		}
		switch {
		case i < int64(s.min) && s.min == 1:
			return o.errf(s.key, "must be a positive integer, got %s", n)
		case i < int64(s.min) && s.min == 0:
			return o.errf(s.key, "must be a non-negative integer, got %s", n)
		case i < int64(s.min) || i > int64(s.max):
			return o.errf(s.key, "must be between %d and %d, got %s", s.min, s.max, n)
		}
		*s.dst = int(i)
	}
	return nil
}

// number reads a JSON number literal; json.Number alone would also take
// a string holding digits.
func number(v json.RawMessage) (json.Number, bool) {
	var n json.Number
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) || json.Unmarshal(v, &n) != nil {
		return "", false
	}
	return n, true
}

// describe names a JSON value's type for error messages.
func describe(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	switch {
	case s == "":
		return "nothing"
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "boolean " + s
	case s[0] == '"':
		return "string " + s
	case s[0] == '[':
		return "array " + s
	case s[0] == '{':
		return "object " + s
	}
	return s
}
