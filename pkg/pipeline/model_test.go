//go:build cgo

package pipeline

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/schema"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/wire"
)

// modelRig serves images and pkg/model's test convnet (input 3×4×4) from
// one in-memory tree, with ONNX Runtime from the suite's virtualenv.
func modelRig(t *testing.T) (*rig, map[string][]byte) {
	t.Helper()
	convnet, err := os.ReadFile("../model/testdata/convnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/data/parts/cls=x/a.png":    plannertest.RGBPNG(t, 8, 8),
		"/data/img/a.png":            plannertest.RGBPNG(t, 40, 30),
		"/data/img/b.png":            plannertest.RGBPNG(t, 9, 13),
		"/data/img/gray.png":         plannertest.PNG(t, 20, 16, 9),
		"/data/img/bad.png":          []byte("x"),
		"/data/models/convnet.onnx":  convnet,
		"/data/models/changing.onnx": convnet,
	}
	wc := DefaultWorkerConfig()
	wc.Model.Library, wc.Model.Threads = model.TestLibrary(), 1
	return newRig(t, files, planner.DefaultCoordinatorConfig(), wc, ""), files
}

const modelCmd = `{"path": "` + testBase + `/img", "numPartitions": 1, "pixels": false,
	"transforms": [{"action": "resize", "height": 4, "width": 4}], "tensor": {"colorScaleFactor": 0.00392156862745098, "autoConvertToColor": true},
	"model": {"modelLocation": "` + testBase + `/models/MODEL", "feedDict": {"x": "tensor"}, "miniBatchSize": 2,
		"fetchDict": {"features": "features", "logits": "logits"}, "softMaxDict": {"logits": "prob"}, "argMaxDict": {"prob": "pred"}}}`

// TestModelOnTheWorker streams a read with a model and checks its columns
// against the same model run by pkg/model on the tensors the worker
// streams without it: equal values, nulls for the invalid row, no pixels.
func TestModelOnTheWorker(t *testing.T) {
	r, _ := modelRig(t)
	cmd := strings.Replace(modelCmd, "MODEL", "convnet.onnx", 1)
	tensors := map[string][]float32{}
	tensorCmd := `{"path": "` + testBase + `/img", "numPartitions": 1,
		"transforms": [{"action": "resize", "height": 4, "width": 4}], "tensor": {"colorScaleFactor": 0.00392156862745098, "autoConvertToColor": true}}`
	for _, row := range r.readColumns(t, tensorCmd, true) {
		tensors[row.origin] = row.f32[0]
	}
	res, err := r.coord.GetSchema(context.Background(), plannertest.Descriptor(cmd))
	if err != nil {
		t.Fatal(err)
	}
	sch, err := aflight.DeserializeSchema(res.GetSchema(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sch.Fields() {
		names = append(names, f.Name+":"+f.Type.String())
	}
	if want := []string{"image", "features:extension<arrow.fixed_shape_tensor[value_type=float32, shape=[5]]>",
		"logits:extension<arrow.fixed_shape_tensor[value_type=float32, shape=[4]]>",
		"prob:extension<arrow.fixed_shape_tensor[value_type=float64, shape=[4]]>", "pred:float64"}; len(names) != 5 || !slices.Equal(names[1:], want[1:]) {
		t.Fatalf("GetSchema: %v, want %v", names, want)
	}
	rows := r.readColumns(t, cmd, false)
	rt := model.NewRuntime(model.Config{Library: model.TestLibrary(), Threads: 1})
	convnet, _ := os.ReadFile("../model/testdata/convnet.onnx")
	s, err := rt.Open(convnet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec, _ := stage.ParseModel([]byte(`{"modelLocation": "/m", "feedDict": {"x": "tensor"}, "fetchDict": {"features": "features", "logits": "logits"}, "softMaxDict": {"logits": "prob"}, "argMaxDict": {"prob": "pred"}}`))
	mp, err := stage.PlanModel(spec, s.IO, [3]int{3, 4, 4}, false)
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, row := range rows {
		in, ok := tensors[row.origin]
		if row.height > 0 && row.dataLen != 0 {
			t.Errorf("%s: %d pixel bytes with pixels: false", row.origin, row.dataLen)
		}
		if in == nil {
			if ok && row.f32[0] != nil {
				t.Errorf("%s: features without a tensor", row.origin)
			}
			continue
		}
		want, err := s.Run(context.Background(), mp, 1, model.Batch{N: 1, F32: in}, [3]int{3, 4, 4})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if !slices.Equal(row.f32[i], want[i].F32) {
				t.Errorf("%s column %d: %v, want %v", row.origin, i, row.f32[i], want[i].F32)
			}
		}
		if !slices.Equal(row.f64[0], want[2].F64) || row.f64[1][0] != want[3].F64[0] {
			t.Errorf("%s: softmax/argmax %v %v, want %v %v", row.origin, row.f64[0], row.f64[1], want[2].F64, want[3].F64)
		}
		valid++
	}
	if len(rows) != 4 || valid != 3 {
		t.Fatalf("%d rows, %d with features; want 4 and 3", len(rows), valid)
	}
}

// TestModelChangedAfterPlanning: a worker runs only the planned bytes.
func TestModelChangedAfterPlanning(t *testing.T) {
	r, files := modelRig(t)
	info := r.plan(t, strings.Replace(modelCmd, "MODEL", "changing.onnx", 1))
	files["/data/models/changing.onnx"] = append([]byte{}, files["/data/models/changing.onnx"][:len(files["/data/models/changing.onnx"])-1]...)
	_, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindExpired || !strings.Contains(err.Error(), "changing.onnx changed since planning") {
		t.Fatalf("Open after the model changed: %v (kind %v)", err, wire.KindOf(err))
	}
}

// TestModelPlanningErrors: every model problem answers at planning,
// naming the model, with its kind.
func TestModelPlanningErrors(t *testing.T) {
	r, _ := modelRig(t)
	tests := []struct {
		model, transforms string
		kind              wire.Kind
		want              string
	}{
		{"missing.onnx", "", wire.KindNotFound, "models/missing.onnx does not exist"},
		{"../../elsewhere/m.onnx", "", wire.KindInvalidArgument, "outside the served roots"},
		{"../img/a.png", "", wire.KindInvalidArgument, "img/a.png: not an ONNX model"},
		{"convnet.onnx", `[{"action": "resize", "height": 8, "width": 8}]`, wire.KindInvalidArgument, `input "x" has shape [?, 3, 4, 4]; the tensor is [batch, 3, 8, 8]`},
	}
	clash := strings.Replace(strings.Replace(modelCmd, "MODEL", "convnet.onnx", 1), `"features": "features"`, `"CLS": "features"`, 1)
	clash = strings.Replace(clash, testBase+"/img", testBase+"/parts", 1)
	for _, get := range []func() error{
		func() error {
			_, err := r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(clash))
			return err
		},
		func() error {
			_, err := r.coord.GetSchema(context.Background(), plannertest.Descriptor(clash))
			return err
		},
	} {
		if err := get(); wire.KindOf(err) != wire.KindInvalidArgument || !strings.Contains(err.Error(), `model column "CLS" is also a partition column`) {
			t.Errorf("model column named like a partition column: %v", err)
		}
	}
	for _, tc := range tests {
		cmd := strings.Replace(modelCmd, "MODEL", tc.model, 1)
		if tc.transforms != "" {
			cmd = strings.Replace(cmd, `[{"action": "resize", "height": 4, "width": 4}]`, tc.transforms, 1)
		}
		_, err := r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(cmd))
		if wire.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (kind %v), want %v naming %q", tc.model, err, wire.KindOf(err), tc.kind, tc.want)
		}
	}
}

// modelRow is one streamed row's origin, size and its tensor-typed or
// double columns after the image (nil: null).
type modelRow struct {
	origin          string
	height, dataLen int
	f32             [][]float32
	f64             [][]float64
}

func (r *rig) readColumns(t *testing.T, cmd string, tensorOnly bool) []modelRow {
	t.Helper()
	info := r.plan(t, cmd)
	sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var rows []modelRow
	err = sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
		img := rec.Column(0).(*array.Struct)
		for i := range int(rec.NumRows()) {
			ir := imagerow.At(img, i)
			row := modelRow{origin: ir.Origin, height: int(ir.Height), dataLen: len(ir.Data)}
			for c := 1; c < int(rec.NumCols()); c++ {
				switch col := rec.Column(c).(type) {
				case *schema.TensorArray:
					l := col.Storage().(*array.FixedSizeList)
					n := int(l.DataType().(*arrow.FixedSizeListType).Len())
					switch v := l.ListValues().(type) {
					case *array.Float32:
						var vals []float32
						if !l.IsNull(i) {
							vals = v.Float32Values()[i*n : (i+1)*n]
						}
						row.f32 = append(row.f32, vals)
					case *array.Float64:
						var vals []float64
						if !l.IsNull(i) {
							vals = v.Float64Values()[i*n : (i+1)*n]
						}
						row.f64 = append(row.f64, vals)
					}
				case *array.Float64:
					var vals []float64
					if !col.IsNull(i) {
						vals = []float64{col.Value(i)}
					}
					row.f64 = append(row.f64, vals)
				}
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tensorOnly && len(rows) > 0 && len(rows[0].f32) != 1 {
		t.Fatalf("tensor read has %d float columns", len(rows[0].f32))
	}
	return rows
}
