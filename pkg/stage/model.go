package stage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ModelParams are SynapseML ONNXModel's parameters as the descriptor's
// "model" key spells them: the model file, which tensor feeds which model
// input, which model outputs become which columns, the mini-batch size,
// and the softmax and argmax columns derived from fetched ones.
type ModelParams struct {
	// Location is modelLocation: an absolute path or URI inside a served
	// root (pkg/wire checks its form, planning its confinement).
	Location string
	// Feed maps the model's one input to the column feeding it ("tensor").
	Feed map[string]string
	// Fetch maps an output column to the model output it holds.
	Fetch map[string]string
	// MiniBatch is how many images one inference call takes.
	MiniBatch int
	// SoftMax maps a fetched column to a new column holding its softmax;
	// ArgMax maps a fetched or softmax column to one holding its argmax.
	SoftMax, ArgMax map[string]string
}

// Limits of a model spec.
const (
	// DefaultMiniBatch is SynapseML's FixedMiniBatchTransformer size.
	DefaultMiniBatch = 10
	// MaxMiniBatch bounds miniBatchSize: a batch of 1024 224×224 tensors
	// is already 600 MB of input.
	MaxMiniBatch = 1024
	// MaxModelColumns bounds the columns a model adds.
	MaxModelColumns = 16
	maxColumnName   = 128
)

// reservedColumns are the stream's own columns, which a model column may
// not shadow (compared case-insensitively, as Spark resolves columns).
var reservedColumns = []string{"image", "tensor", "failure"}

var modelKeys = []string{"modelLocation", "feedDict", "fetchDict", "miniBatchSize", "softMaxDict", "argMaxDict"}

// ParseModel reads the "model" object. Every name problem is reported
// here; what needs the model file (its inputs, outputs and shapes) is
// ModelColumns'. Errors are ParamErrors with the "model" prefix.
func ParseModel(raw json.RawMessage) (*ModelParams, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	o, err := readObject(raw, "model", -1)
	if err != nil {
		return nil, err
	}
	if err := o.onlyKeys(append([]string{""}, modelKeys...)); err != nil {
		return nil, err
	}
	p := &ModelParams{MiniBatch: DefaultMiniBatch}
	if p.Location, err = o.str("modelLocation"); err != nil {
		return nil, err
	}
	if p.Location == "" {
		return nil, o.errf("modelLocation", "must not be empty")
	}
	if p.Feed, err = o.strMap("feedDict", true); err != nil {
		return nil, err
	}
	if len(p.Feed) != 1 {
		return nil, o.errf("feedDict", `must map the model's one input to "tensor", e.g. {"input": "tensor"}; got %d entries`, len(p.Feed))
	}
	for in, col := range p.Feed {
		if col != "tensor" {
			return nil, o.errf("feedDict", `input %q must be fed from "tensor" (the only column workers compute), got %q`, in, col)
		}
	}
	if p.Fetch, err = o.strMap("fetchDict", true); err != nil {
		return nil, err
	}
	if o.has("miniBatchSize") {
		if err := o.ints(intSpec{"miniBatchSize", &p.MiniBatch, 1, MaxMiniBatch}); err != nil {
			return nil, err
		}
	}
	if p.SoftMax, err = o.strMap("softMaxDict", false); err != nil {
		return nil, err
	}
	if p.ArgMax, err = o.strMap("argMaxDict", false); err != nil {
		return nil, err
	}
	return p, p.checkColumns(o)
}

// checkColumns checks the output column names: distinct, not the
// stream's own, derived columns reading existing ones.
func (p *ModelParams) checkColumns(o *object) error {
	if n := len(p.Fetch) + len(p.SoftMax) + len(p.ArgMax); n > MaxModelColumns {
		return o.errf("fetchDict", "at most %d model columns in all, got %d", MaxModelColumns, n)
	}
	seen := map[string]bool{}
	for _, r := range reservedColumns {
		seen[r] = true
	}
	add := func(key, col string) error {
		switch {
		case len(col) > maxColumnName:
			return o.errf(key, "column name longer than %d bytes", maxColumnName)
		case seen[strings.ToLower(col)]:
			return o.errf(key, "column %q is already a column of the stream (image, tensor, failure or another model column)", col)
		}
		seen[strings.ToLower(col)] = true
		return nil
	}
	for _, col := range slices.Sorted(maps.Keys(p.Fetch)) {
		if err := add("fetchDict", col); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		key  string
		m    map[string]string
		from func(string) bool
	}{
		{"softMaxDict", p.SoftMax, func(c string) bool { _, ok := p.Fetch[c]; return ok }},
		{"argMaxDict", p.ArgMax, func(c string) bool { _, ok := p.Fetch[c]; _, sm := p.softMaxOf(c); return ok || sm }},
	} {
		for _, src := range slices.Sorted(maps.Keys(d.m)) {
			if !d.from(src) {
				return o.errf(d.key, "reads column %q, which fetchDict (or softMaxDict, for argMaxDict) does not make", src)
			}
			if err := add(d.key, d.m[src]); err != nil {
				return err
			}
		}
	}
	return nil
}

// softMaxOf returns the fetched column whose softmax col is.
func (p *ModelParams) softMaxOf(col string) (string, bool) {
	for src, dst := range p.SoftMax {
		if dst == col {
			return src, true
		}
	}
	return "", false
}

// Input is the model input the tensor feeds.
func (p *ModelParams) Input() string {
	for in := range p.Feed {
		return in
	}
	return ""
}

// strMap reads an object of non-empty strings to non-empty strings.
func (o *object) strMap(key string, required bool) (map[string]string, error) {
	if !o.has(key) && !required {
		return nil, nil
	}
	v, err := o.get(key)
	if err != nil {
		return nil, err
	}
	inner, err := readObject(v, o.path+"."+key, -1)
	if err != nil {
		return nil, o.errf(key, "must be an object of strings, got %s", describe(v))
	}
	m := make(map[string]string, len(inner.order))
	for _, k := range inner.order {
		var s string
		if json.Unmarshal(inner.vals[k], &s) != nil {
			return nil, o.errf(key, "value of %q must be a string, got %s", k, describe(inner.vals[k]))
		}
		if k == "" || s == "" {
			return nil, o.errf(key, "names must not be empty")
		}
		m[k] = s
	}
	if required && len(m) == 0 {
		return nil, o.errf(key, "must name at least one entry")
	}
	return m, nil
}

// ModelIO is a model's graph inputs and outputs as its file declares them
// (pkg/model reads it from the ONNX protobuf without running anything).
type ModelIO struct {
	Inputs, Outputs []ModelValue
}

// ModelValue is one graph input or output: its name, element type (ONNX's
// TensorProto.DataType: 1 float, 11 double; 0 when not a tensor) and
// dimensions, -1 for a symbolic one.
type ModelValue struct {
	Name string
	Elem int
	Dims []int64
}

// ONNX element types the workers feed and fetch.
const (
	ElemFloat  = 1
	ElemDouble = 11
)

// ModelColumn is one column a model adds, in schema order.
type ModelColumn struct {
	Name string
	// Op is "fetch" (the model output Output), "softmax" or "argmax" (of
	// the column Source).
	Op, Output, Source string
	// Shape is each row's shape (a fetched output without its batch
	// dimension; [] for argmax, a scalar).
	Shape []int
	// Double is float64 elements: a double output, and softmax and argmax,
	// which SynapseML computes in double.
	Double bool
}

// Values is how many values each row of c holds (1 for an argmax).
func (c ModelColumn) Values() int {
	n := 1
	for _, d := range c.Shape {
		n *= d
	}
	return n
}

// ModelPlan is what a model does to the stream, known from the spec, the
// model's declared inputs and outputs, and the tensor's shape.
type ModelPlan struct {
	Input string
	// Batch is the model's fixed batch size, 0 when its batch dimension is
	// symbolic (any size).
	Batch   int
	Columns []ModelColumn
}

// PlanModel checks a model's declared graph against the spec and the
// tensor (c, h, w; double for float64 elements) and gives the columns it
// adds: fetched ones in column-name order, then softmax, then argmax ones.
// Every mismatch is a ParamError naming the model input or output.
func PlanModel(p *ModelParams, io ModelIO, tensor [3]int, double bool) (ModelPlan, error) {
	errf := func(key, format string, args ...any) error {
		return &ParamError{Path: "model", Index: -1, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	mp := ModelPlan{Input: p.Input()}
	if len(io.Inputs) != 1 {
		names := make([]string, len(io.Inputs))
		for i, v := range io.Inputs {
			names[i] = v.Name
		}
		return mp, errf("feedDict", "the model must take exactly one input (the image tensor); it takes %d: %s", len(io.Inputs), strings.Join(names, ", "))
	}
	in := io.Inputs[0]
	if in.Name != mp.Input {
		return mp, errf("feedDict", "the model has no input %q; its input is %q", mp.Input, in.Name)
	}
	want, wantName := ElemFloat, "float"
	if double {
		want, wantName = ElemDouble, "double"
	}
	if in.Elem != want {
		return mp, errf("feedDict", "input %q takes elements of ONNX type %d, the tensor holds %s (tensorElementType)", in.Name, in.Elem, wantName)
	}
	if len(in.Dims) != 4 {
		return mp, errf("feedDict", "input %q has shape %s; it must be [batch, %d, %d, %d] to take the tensor", in.Name, dimString(in.Dims), tensor[0], tensor[1], tensor[2])
	}
	for i, d := range in.Dims[1:] {
		if d != -1 && d != int64(tensor[i]) {
			return mp, errf("feedDict", "input %q has shape %s; the tensor is [batch, %d, %d, %d] (channels, height, width)", in.Name, dimString(in.Dims), tensor[0], tensor[1], tensor[2])
		}
	}
	if in.Dims[0] > 0 {
		mp.Batch = int(in.Dims[0])
	}
	outs := map[string]ModelValue{}
	for _, v := range io.Outputs {
		outs[v.Name] = v
	}
	byName := map[string]ModelColumn{}
	for _, col := range slices.Sorted(maps.Keys(p.Fetch)) {
		name := p.Fetch[col]
		v, ok := outs[name]
		if !ok {
			return mp, errf("fetchDict", "column %q: the model has no output %q; its outputs are %s", col, name, outputNames(io.Outputs))
		}
		if v.Elem != ElemFloat && v.Elem != ElemDouble {
			return mp, errf("fetchDict", "column %q: output %q has elements of ONNX type %d; only float (1) and double (11) outputs are served", col, name, v.Elem)
		}
		if len(v.Dims) == 0 || (v.Dims[0] != -1 && (mp.Batch == 0 || v.Dims[0] != int64(mp.Batch))) {
			return mp, errf("fetchDict", "column %q: output %q has shape %s, without the input's batch dimension first", col, name, dimString(v.Dims))
		}
		shape := make([]int, len(v.Dims)-1)
		for i, d := range v.Dims[1:] {
			if d <= 0 {
				return mp, errf("fetchDict", "column %q: output %q has shape %s; every dimension but the batch must be fixed in the model", col, name, dimString(v.Dims))
			}
			shape[i] = int(d)
		}
		c := ModelColumn{Name: col, Op: "fetch", Output: name, Shape: shape, Double: v.Elem == ElemDouble}
		byName[col] = c
		mp.Columns = append(mp.Columns, c)
	}
	for _, d := range []struct {
		key, op string
		m       map[string]string
	}{{"softMaxDict", "softmax", p.SoftMax}, {"argMaxDict", "argmax", p.ArgMax}} {
		for _, src := range slices.Sorted(maps.Keys(d.m)) {
			s := byName[src]
			if len(s.Shape) != 1 {
				return mp, errf(d.key, "column %q has shape %v per row; %s takes a vector, as SynapseML's does", src, s.Shape, d.op)
			}
			c := ModelColumn{Name: d.m[src], Op: d.op, Source: src, Shape: s.Shape, Double: true}
			if d.op == "argmax" {
				c.Shape = []int{}
			}
			byName[c.Name] = c
			mp.Columns = append(mp.Columns, c)
		}
	}
	return mp, nil
}

func dimString(dims []int64) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = fmt.Sprint(d)
		if d < 0 {
			s[i] = "?"
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func outputNames(vs []ModelValue) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%q", v.Name)
	}
	return strings.Join(s, ", ")
}
