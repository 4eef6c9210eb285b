package stage

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const modelSpec = `{"modelLocation": "/m/r.onnx", "feedDict": {"x": "tensor"}, "fetchDict": {"logits": "y", "feat": "f"},
	"softMaxDict": {"logits": "prob"}, "argMaxDict": {"prob": "pred"}}`

func TestParseModel(t *testing.T) {
	p, err := ParseModel(json.RawMessage(modelSpec))
	if err != nil {
		t.Fatal(err)
	}
	want := &ModelParams{Location: "/m/r.onnx", Feed: map[string]string{"x": "tensor"}, Fetch: map[string]string{"logits": "y", "feat": "f"},
		MiniBatch: DefaultMiniBatch, SoftMax: map[string]string{"logits": "prob"}, ArgMax: map[string]string{"prob": "pred"}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if p, err := ParseModel(json.RawMessage(`null`)); p != nil || err != nil {
		t.Fatalf("null: %v, %v", p, err)
	}
}

func TestParseModelErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{`[]`, "model: must be an object"},
		{`{"feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}}`, "model.modelLocation: missing"},
		{`{"modelLocation": "", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}}`, "model.modelLocation: must not be empty"},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}, "batch": 2}`, "model.batch: unknown key"},
		{`{"modelLocation": "/m", "feedDict": {"x": "image"}, "fetchDict": {"a": "y"}}`, `model.feedDict: input "x" must be fed from "tensor"`},
		{`{"modelLocation": "/m", "feedDict": {}, "fetchDict": {"a": "y"}}`, "model.feedDict: must name at least one entry"},
		{`{"modelLocation": "/m", "feedDict": {"x": 1}, "fetchDict": {"a": "y"}}`, `model.feedDict: value of "x" must be a string`},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}}`, "model.fetchDict: missing"},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"Tensor": "y"}}`, `model.fetchDict: column "Tensor" is already a column`},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}, "miniBatchSize": 0}`, "model.miniBatchSize: must be a positive integer"},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}, "miniBatchSize": 1.5}`, "model.miniBatchSize: must be an integer"},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}, "softMaxDict": {"b": "p"}}`, `model.softMaxDict: reads column "b"`},
		{`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"a": "y"}, "argMaxDict": {"a": "a"}}`, `model.argMaxDict: column "a" is already`},
	}
	for _, tc := range tests {
		_, err := ParseModel(json.RawMessage(tc.spec))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, ErrInvalidParam) {
			t.Errorf("ParseModel(%s) = %v, want an error starting %q", tc.spec, err, tc.want)
		}
	}
}

func TestPlanModel(t *testing.T) {
	p, err := ParseModel(json.RawMessage(modelSpec))
	if err != nil {
		t.Fatal(err)
	}
	io := ModelIO{
		Inputs:  []ModelValue{{Name: "x", Elem: ElemFloat, Dims: []int64{-1, 3, 8, 8}}},
		Outputs: []ModelValue{{Name: "y", Elem: ElemFloat, Dims: []int64{-1, 5}}, {Name: "f", Elem: ElemFloat, Dims: []int64{-1, 4, 2, 2}}},
	}
	mp, err := PlanModel(p, io, [3]int{3, 8, 8}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := ModelPlan{Input: "x", Columns: []ModelColumn{
		{Name: "feat", Op: "fetch", Output: "f", Shape: []int{4, 2, 2}},
		{Name: "logits", Op: "fetch", Output: "y", Shape: []int{5}},
		{Name: "prob", Op: "softmax", Source: "logits", Shape: []int{5}, Double: true},
		{Name: "pred", Op: "argmax", Source: "prob", Shape: []int{}, Double: true},
	}}
	if !reflect.DeepEqual(mp, want) {
		t.Fatalf("got %+v\nwant %+v", mp, want)
	}
	fixed := io
	fixed.Inputs = []ModelValue{{Name: "x", Elem: ElemFloat, Dims: []int64{1, 3, -1, -1}}}
	fixed.Outputs = []ModelValue{{Name: "y", Elem: ElemFloat, Dims: []int64{1, 5}}, {Name: "f", Elem: ElemFloat, Dims: []int64{1, 4, 2, 2}}}
	if mp, err := PlanModel(p, fixed, [3]int{3, 8, 8}, false); err != nil || mp.Batch != 1 {
		t.Fatalf("fixed batch: %+v, %v", mp, err)
	}

	bad := []struct {
		name   string
		edit   func(*ModelIO)
		tensor [3]int
		double bool
		want   string
	}{
		{"input shape", nil, [3]int{3, 224, 224}, false, `model.feedDict: input "x" has shape [?, 3, 8, 8]; the tensor is [batch, 3, 224, 224]`},
		{"gray tensor", nil, [3]int{1, 8, 8}, false, `input "x" has shape [?, 3, 8, 8]`},
		{"double tensor", nil, [3]int{3, 8, 8}, true, `takes elements of ONNX type 1, the tensor holds double`},
		{"input name", func(m *ModelIO) { m.Inputs[0].Name = "data" }, [3]int{3, 8, 8}, false, `the model has no input "x"; its input is "data"`},
		{"two inputs", func(m *ModelIO) { m.Inputs = append(m.Inputs, ModelValue{Name: "z"}) }, [3]int{3, 8, 8}, false, "exactly one input"},
		{"rank", func(m *ModelIO) { m.Inputs[0].Dims = []int64{-1, 192} }, [3]int{3, 8, 8}, false, "has shape [?, 192]"},
		{"no output", func(m *ModelIO) { m.Outputs = m.Outputs[1:] }, [3]int{3, 8, 8}, false, `model.fetchDict: column "logits": the model has no output "y"; its outputs are "f"`},
		{"int output", func(m *ModelIO) { m.Outputs[0].Elem = 7 }, [3]int{3, 8, 8}, false, "ONNX type 7"},
		{"symbolic output", func(m *ModelIO) { m.Outputs[1].Dims = []int64{-1, 4, -1, -1} }, [3]int{3, 8, 8}, false, "every dimension but the batch must be fixed"},
		{"softmax of a map", func(m *ModelIO) { m.Outputs[0].Dims = []int64{-1, 5, 1} }, [3]int{3, 8, 8}, false, "model.softMaxDict: column \"logits\" has shape [5 1] per row"},
	}
	for _, tc := range bad {
		m := ModelIO{Inputs: append([]ModelValue{}, io.Inputs...), Outputs: append([]ModelValue{}, io.Outputs...)}
		m.Inputs[0].Dims = append([]int64{}, io.Inputs[0].Dims...)
		if tc.edit != nil {
			tc.edit(&m)
		}
		_, err := PlanModel(p, m, tc.tensor, tc.double)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
