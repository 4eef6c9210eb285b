//go:build sparkjvm

package e2e

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/stage"
)

// modelSpec is ConnectorCheck's model option with the path left out: pkg/model's test
// convnet (input x: 3×4×4) after a 4×4 resize and a [0, 1] tensor.
const modelSpec = `{"modelLocation": "/m", "feedDict": {"x": "tensor"},
	"fetchDict": {"features": "features", "logits": "logits"}, "argMaxDict": {"logits": "pred"}}`

// assertModel: the connector's model columns equal ONNX Runtime (pkg/model, on the library
// the workers load) run on the tensors the connector streams for the same read without the
// model; the model read put no pixels into batches; a filter on a model column stays in
// Spark (no partition column) and counts right.
func assertModel(t *testing.T, res checkResult, onnx []byte) {
	t.Helper()
	rt := model.NewRuntime(model.Config{Library: ortLibrary(t), Threads: 1})
	s, err := rt.Open(onnx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec, err := stage.ParseModel([]byte(modelSpec))
	if err != nil {
		t.Fatal(err)
	}
	shape := [3]int{3, 4, 4}
	mp, err := stage.PlanModel(spec, s.IO, shape, false)
	if err != nil {
		t.Fatal(err)
	}
	features, pred := -1, -1
	for i, c := range mp.Columns {
		switch c.Name {
		case "features":
			features = i
		case "pred":
			pred = i
		}
	}

	tensors := map[string][]float64{}
	for _, l := range res.ModelTensors {
		origin, vals := floatFields(t, l)
		tensors[origin] = vals
	}
	var rows []string
	if err := json.Unmarshal(res.ModelFeatures.Result, &rows); err != nil {
		t.Fatal(err)
	}
	valid, cats := 0, 0
	for _, l := range rows {
		origin, vals := floatFields(t, l)
		in, ok := tensors[origin]
		if !ok {
			t.Errorf("%s: features for an origin the tensor read did not have", origin)
			continue
		}
		if in == nil || vals == nil {
			if in != nil || vals != nil {
				t.Errorf("%s: tensor %v, model columns %v: want both or neither", origin, in != nil, vals != nil)
			}
			continue
		}
		f32 := make([]float32, len(in))
		for i, v := range in {
			f32[i] = float32(v)
		}
		want, err := s.Run(context.Background(), mp, 1, model.Batch{N: 1, F32: f32}, shape)
		if err != nil {
			t.Fatal(err)
		}
		if got := vals[:len(vals)-1]; len(got) != len(want[features].F32) {
			t.Errorf("%s: %d features, want %d", origin, len(got), len(want[features].F32))
		} else {
			for i, v := range got {
				if math.Abs(v-float64(want[features].F32[i])) > 1e-5 {
					t.Errorf("%s: feature %d = %v, ONNX Runtime says %v", origin, i, v, want[features].F32[i])
					break
				}
			}
		}
		if got := vals[len(vals)-1]; got != want[pred].F64[0] {
			t.Errorf("%s: pred %v, ONNX Runtime says %v", origin, got, want[pred].F64[0])
		}
		valid++
		if strings.Contains(origin, "/cls=cats/") {
			cats++
		}
	}
	if len(rows) != len(tensors) || valid < len(rows)/2 {
		t.Errorf("model read: %d rows (%d with features), tensor read %d rows", len(rows), valid, len(tensors))
	}
	if res.ModelFeatures.PixelRows != 0 || res.ModelFeatures.Images == 0 {
		t.Errorf("model read without image.data: %d rows with pixels, %d images read; want 0 and > 0",
			res.ModelFeatures.PixelRows, res.ModelFeatures.Images)
	}
	for _, col := range []string{"features:array<float>", "logits:array<float>", "pred:double", "cls:string"} {
		if !strings.Contains(res.ModelSchema, col) {
			t.Errorf("model read's schema %s has no %s", res.ModelSchema, col)
		}
	}
	if !filterNode.MatchString(res.ModelExplainWhere) || !strings.Contains(res.ModelExplainWhere, "EqualTo(cls,cats)") {
		t.Errorf("where(pred >= 0 AND cls = 'cats'): want pred filtered in Spark and cls pushed:\n%s", res.ModelExplainWhere)
	}
	if res.ModelWhereCount != cats || cats == 0 {
		t.Errorf("where(pred >= 0 AND cls = 'cats').count() = %d, want %d (> 0)", res.ModelWhereCount, cats)
	}
	t.Logf("model on the workers through the connector: %d rows, %d with features equal to ONNX Runtime's", len(rows), valid)
}

// floatFields parses a ConnectorCheck float row: "origin v v ..." (nil for "origin null").
func floatFields(t *testing.T, line string) (string, []float64) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("bad row %q", line)
	}
	if f[1] == "null" {
		return f[0], nil
	}
	vals := make([]float64, len(f)-1)
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		vals[i] = v
	}
	return f[0], vals
}
