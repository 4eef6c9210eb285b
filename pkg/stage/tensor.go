package stage

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
)

// TensorParams are SynapseML ImageTransformer's toTensor parameters.
type TensorParams struct {
	// ChannelOrder is "RGB" (SynapseML's default) or "BGR".
	ChannelOrder string
	// Mean and Std hold one value per channel (after alpha is dropped); nil
	// means SynapseML's defaults, 0 and 1.
	Mean, Std []float64
	// ScaleFactor multiplies each 0-255 value first; SynapseML's default is 1.
	ScaleFactor float64
	// Double selects float64 elements ("double"); the default is float32
	// ("float"), SynapseML's FloatType.
	Double bool
	// AutoConvertToColor turns a gray image into three equal channels
	// first (OpenCV's GRAY2BGR), so it gives a 3×H×W tensor. Off by
	// default, as in SynapseML 1.1.0: a gray image gives a 1×H×W tensor.
	AutoConvertToColor bool
}

// DefaultTensorParams are SynapseML's defaults.
var DefaultTensorParams = TensorParams{ChannelOrder: "RGB", ScaleFactor: 1}

var tensorKeys = []string{"tensorChannelOrder", "normalizeMean", "normalizeStd", "colorScaleFactor", "tensorElementType", "autoConvertToColor"}

// ParseTensor reads a JSON object with SynapseML's toTensor keys:
// tensorChannelOrder ("RGB"/"rgb"/"BGR"/"bgr"), normalizeMean and
// normalizeStd (lists of 1 or 3 finite numbers, std non-zero),
// colorScaleFactor (> 0), tensorElementType ("float" or "double") and
// autoConvertToColor (a boolean). Every key is optional. Errors are
// ParamErrors with the "tensor" prefix.
func ParseTensor(raw json.RawMessage) (TensorParams, error) {
	p := DefaultTensorParams
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	o, err := readObject(raw, "tensor", -1)
	if err != nil {
		return p, err
	}
	if err := o.onlyKeys(append([]string{""}, tensorKeys...)); err != nil {
		return p, err
	}
	if o.has("tensorChannelOrder") {
		s, err := o.str("tensorChannelOrder")
		if err != nil {
			return p, err
		}
		if s != "RGB" && s != "rgb" && s != "BGR" && s != "bgr" {
			return p, o.errf("tensorChannelOrder", "must be RGB or BGR, got %q", s)
		}
		p.ChannelOrder = strings.ToUpper(s)
	}
	if o.has("tensorElementType") {
		s, err := o.str("tensorElementType")
		if err != nil {
			return p, err
		}
		if s != "float" && s != "double" {
			return p, o.errf("tensorElementType", "must be \"float\" or \"double\", got %q", s)
		}
		p.Double = s == "double"
	}
	if o.has("autoConvertToColor") {
		if p.AutoConvertToColor, err = o.boolean("autoConvertToColor"); err != nil {
			return p, err
		}
	}
	if o.has("colorScaleFactor") {
		if p.ScaleFactor, err = o.num("colorScaleFactor"); err != nil {
			return p, err
		}
		if p.ScaleFactor <= 0 {
			return p, o.errf("colorScaleFactor", "must be greater than 0, got %v", p.ScaleFactor)
		}
	}
	if p.Mean, err = o.numList("normalizeMean", false); err != nil {
		return p, err
	}
	if p.Std, err = o.numList("normalizeStd", true); err != nil {
		return p, err
	}
	if p.Mean != nil && p.Std != nil && len(p.Mean) != len(p.Std) {
		return p, o.errf("normalizeStd", "must have as many values as normalizeMean (%d), got %d", len(p.Mean), len(p.Std))
	}
	return p, nil
}

func (o *object) numList(key string, nonZero bool) ([]float64, error) {
	if !o.has(key) {
		return nil, nil
	}
	v, err := o.get(key)
	if err != nil {
		return nil, err
	}
	var elems []json.RawMessage
	if json.Unmarshal(v, &elems) != nil || v[0] != '[' {
		return nil, o.errf(key, "must be a list of numbers, got %s", describe(v))
	}
	nums := make([]json.Number, len(elems))
	for i, e := range elems {
		var ok bool
		if nums[i], ok = number(e); !ok {
			return nil, o.errf(key, "value %d must be a number, got %s", i, describe(e))
		}
	}
	if len(nums) != 1 && len(nums) != 3 {
		return nil, o.errf(key, "must have 1 value (gray) or 3 (colour), got %d", len(nums))
	}
	out := make([]float64, len(nums))
	for i, n := range nums {
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, o.errf(key, "value %d must be a finite number, got %s", i, n)
		}
		if nonZero && f == 0 {
			return nil, o.errf(key, "value %d must not be 0", i)
		}
		out[i] = f
	}
	return out, nil
}
