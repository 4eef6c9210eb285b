package stage

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want []Stage
	}{
		{`null`, nil},
		{``, nil},
		{`[]`, []Stage{}},
		{`[{"action":"resize","height":224,"width":300}]`, []Stage{Resize{Height: 224, Width: 300}}},
		{`[{"action":"resize","size":256,"keepAspectRatio":true}]`, []Stage{Resize{Size: 256, KeepAspectRatio: true}}},
		{`[{"action":"resize","size":256,"keepAspectRatio":true,"interpolation":"antialias"}]`,
			[]Stage{Resize{Size: 256, KeepAspectRatio: true, Interpolation: InterAntialias}}},
		{`[{"action":"resize","height":2,"width":3,"interpolation":"area"}]`, []Stage{Resize{Height: 2, Width: 3, Interpolation: InterArea}}},
		{`[{"action":"resize","height":2,"width":3,"interpolation":"linear"}]`, []Stage{Resize{Height: 2, Width: 3}}},
		{`[{"action":"crop","x":0,"y":5,"height":10,"width":20.0}]`, []Stage{Crop{X: 0, Y: 5, Height: 10, Width: 20}}},
		{`[{"width":3,"action":"centercrop","height":4}]`, []Stage{CenterCrop{Height: 4, Width: 3}}},
		{`[{"action":"colorformat","format":6},{"action":"flip","flipCode":-1}]`, []Stage{ColorFormat{Code: 6}, Flip{Code: -1}}},
		{`[{"action":"blur","height":3.0,"width":5}]`, []Stage{Blur{Height: 3, Width: 5}}},
		{`[{"action":"threshold","threshold":127.5,"maxVal":255,"type":4}]`, []Stage{Threshold{Threshold: 127.5, MaxVal: 255, Type: 4}}},
		{`[{"action":"gaussiankernel","apertureSize":5,"sigma":0}]`, []Stage{GaussianKernel{ApertureSize: 5}}},
		{`[{"action":"gaussiankernel","apertureSize":129,"sigma":-2.5}]`, []Stage{GaussianKernel{ApertureSize: 129, Sigma: -2.5}}},
	}
	for _, tc := range tests {
		got, err := Parse(json.RawMessage(tc.in))
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%s) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{`{"action":"flip"}`, "transforms: must be a list of stage objects"},
		{`[{"action":"flip","flipCode":1},{"action":"resize","height":-3,"width":4}]`,
			"transforms[1].height: must be a positive integer, got -3"},
		{`[{"action":"rotate"}]`, `transforms[0].action: unknown action "rotate"; want one of resize, crop, centercrop, colorformat, flip, blur, threshold, gaussiankernel`},
		{`[{"height":3}]`, "transforms[0].action: missing"},
		{`[{"action":7}]`, "transforms[0].action: must be a string, got 7"},
		{`[3]`, "transforms[0]: must be an object, got 3"},
		{`[{"action":"crop","x":0,"y":0,"height":1,"width":1,"heigth":2}]`,
			"transforms[0].heigth: unknown key; allowed keys: x, y, height, width"},
		{`[{"action":"crop","x":0,"y":0,"height":1}]`, "transforms[0].width: missing"},
		{`[{"action":"crop","x":-1,"y":0,"height":1,"width":1}]`, "transforms[0].x: must be a non-negative integer, got -1"},
		{`[{"action":"crop","x":"1","y":0,"height":1,"width":1}]`, `transforms[0].x: must be an integer, got string "1"`},
		{`[{"action":"crop","x":1.5,"y":0,"height":1,"width":1}]`, "transforms[0].x: must be an integer, got 1.5"},
		{`[{"action":"crop","x":null,"y":0,"height":1,"width":1}]`, "transforms[0].x: missing"},
		{`[{"action":"resize","height":70000,"width":4}]`, "transforms[0].height: must be between 1 and 65535, got 70000"},
		{`[{"action":"resize","size":10}]`, "transforms[0].keepAspectRatio: missing"},
		{`[{"action":"resize","height":1,"width":1,"interpolation":"cubic"}]`,
			`transforms[0].interpolation: must be linear, area or antialias, got "cubic"`},
		{`[{"action":"resize","size":10,"keepAspectRatio":"yes"}]`, `transforms[0].keepAspectRatio: must be true or false, got string "yes"`},
		{`[{"action":"resize","size":10,"keepAspectRatio":true,"width":3}]`, "transforms[0].width: cannot be combined with size"},
		{`[{"action":"resize","height":10,"width":3,"keepAspectRatio":true}]`, "transforms[0].keepAspectRatio: only applies together with size"},
		{`[{"action":"resize","size":0,"keepAspectRatio":true}]`, "transforms[0].size: must be a positive integer, got 0"},
		{`[{"action":"colorformat","format":40}]`, "transforms[0].format: unsupported cvtColor code 40; supported: 0-11 (conversions between BGR, RGB, BGRA, RGBA and GRAY)"},
		{`[{"action":"flip","flipCode":2}]`, "transforms[0].flipCode: must be 0 (up-down), 1 (left-right) or -1 (both), got 2"},
		{`[{"action":"blur","height":256,"width":3}]`, "transforms[0].height: must be between 1 and 255, got 256"},
		{`[{"action":"threshold","threshold":1,"maxVal":255,"type":8}]`, "transforms[0].type: must be between 0 and 4, got 8"},
		{`[{"action":"threshold","threshold":1e999,"maxVal":255,"type":0}]`, "transforms[0].threshold: must be a finite number, got 1e999"},
		{`[{"action":"threshold","threshold":[1],"maxVal":255,"type":0}]`, "transforms[0].threshold: must be a number, got array [1]"},
		{`[{"action":"gaussiankernel","apertureSize":130,"sigma":1}]`, "transforms[0].apertureSize: must be between 1 and 129, got 130"},
		{`[{"action":"flip","flipCode":1,"flipCode":0}]`, "transforms[0].flipCode: given more than once"},
	}
	for _, tc := range tests {
		_, err := Parse(json.RawMessage(tc.in))
		if err == nil {
			t.Errorf("Parse(%s) succeeded, want %q", tc.in, tc.msg)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("Parse(%s):\n got %q\nwant %q", tc.in, err, tc.msg)
		}
		var pe *ParamError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidParam) {
			t.Errorf("Parse(%s): %T is not a ParamError wrapping ErrInvalidParam", tc.in, err)
		}
	}
	_, err := Parse(json.RawMessage(`[{"action":"flip","flipCode":1},{"action":"resize","height":-3,"width":4}]`))
	var pe *ParamError
	if errors.As(err, &pe) && (pe.Index != 1 || pe.Key != "height") {
		t.Errorf("ParamError index/key = %d/%q, want 1/height", pe.Index, pe.Key)
	}
	many := "["
	for i := range MaxStages + 1 {
		if i > 0 {
			many += ","
		}
		many += `{"action":"flip","flipCode":1}`
	}
	if _, err := Parse(json.RawMessage(many + "]")); err == nil {
		t.Errorf("Parse accepted %d stages", MaxStages+1)
	}
}

func TestParseTensor(t *testing.T) {
	p, err := ParseTensor(nil)
	if err != nil || !reflect.DeepEqual(p, DefaultTensorParams) {
		t.Fatalf("ParseTensor(nil) = %+v, %v", p, err)
	}
	p, err = ParseTensor(json.RawMessage(`{"tensorChannelOrder":"bgr","normalizeMean":[1,2,3],"normalizeStd":[0.5,0.5,0.5],"colorScaleFactor":0.00392156862745098,"tensorElementType":"double","autoConvertToColor":true}`))
	want := TensorParams{ChannelOrder: "BGR", Mean: []float64{1, 2, 3}, Std: []float64{0.5, 0.5, 0.5}, ScaleFactor: 0.00392156862745098, Double: true, AutoConvertToColor: true}
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("ParseTensor = %+v, %v", p, err)
	}
	bad := []struct{ in, msg string }{
		{`[1]`, "tensor: must be an object, got array [1]"},
		{`{"toTensor":true}`, "tensor.toTensor: unknown key; allowed keys: tensorChannelOrder, normalizeMean, normalizeStd, colorScaleFactor, tensorElementType, autoConvertToColor"},
		{`{"tensorChannelOrder":"GBR"}`, `tensor.tensorChannelOrder: must be RGB or BGR, got "GBR"`},
		{`{"tensorElementType":"int"}`, `tensor.tensorElementType: must be "float" or "double", got "int"`},
		{`{"colorScaleFactor":0}`, "tensor.colorScaleFactor: must be greater than 0, got 0"},
		{`{"normalizeMean":[1,2]}`, "tensor.normalizeMean: must have 1 value (gray) or 3 (colour), got 2"},
		{`{"normalizeStd":[1,0,1]}`, "tensor.normalizeStd: value 1 must not be 0"},
		{`{"autoConvertToColor":1}`, "tensor.autoConvertToColor: must be true or false, got 1"},
		{`{"normalizeStd":"1"}`, `tensor.normalizeStd: must be a list of numbers, got string "1"`},
		{`{"normalizeMean":[1,2,3],"normalizeStd":[1]}`, "tensor.normalizeStd: must have as many values as normalizeMean (3), got 1"},
	}
	for _, tc := range bad {
		_, err := ParseTensor(json.RawMessage(tc.in))
		if err == nil || err.Error() != tc.msg || !errors.Is(err, ErrInvalidParam) {
			t.Errorf("ParseTensor(%s):\n got %v\nwant %q", tc.in, err, tc.msg)
		}
	}
}
