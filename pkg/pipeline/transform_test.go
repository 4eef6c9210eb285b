package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/schema"
	"github.com/imageflight/imageflight/pkg/wire"
)

func TestTransformsAndTensorOnTheWorker(t *testing.T) {
	files := map[string][]byte{
		"/data/cls=a/big.png":   plannertest.RGBPNG(t, 40, 30),
		"/data/cls=a/gray.png":  plannertest.PNG(t, 20, 16, 9),
		"/data/cls=b/small.png": plannertest.PNG(t, 6, 5, 1), // upscaled by the resize
		"/data/cls=b/bad.png":   []byte("x"),
	}
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	// SynapseML's autoConvertToColor defaults to false: a gray image's tensor
	// is 1×8×8, which the 3-channel column holds as null
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("autoConvertToColor=%v", auto), func(t *testing.T) {
			gray := " no tensor"
			if auto {
				gray = " tensor"
			}
			checkTransformsAndTensor(t, r, auto, []string{
				"cls=a/big.png a tensor 8x8x3",
				"cls=a/gray.png a" + gray + " 8x8x1",
				"cls=b/bad.png b no tensor -1x-1x-1",
				"cls=b/small.png b" + gray + " 8x8x1",
			})
		})
	}
}

func checkTransformsAndTensor(t *testing.T, r *rig, auto bool, want []string) {
	t.Helper()
	cmd := `{"path": "` + testBase + `", "numPartitions": 1,
		"transforms": [{"action": "resize", "size": 8, "keepAspectRatio": true}, {"action": "centercrop", "height": 8, "width": 8}],
		"tensor": {"colorScaleFactor": 0.00392156862745098, "autoConvertToColor": ` + fmt.Sprint(auto) + `}}`
	res, err := r.coord.GetSchema(context.Background(), plannertest.Descriptor(cmd))
	if err != nil {
		t.Fatal(err)
	}
	sch, err := aflight.DeserializeSchema(res.GetSchema(), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tt, ok := sch.Field(1).Type.(*schema.TensorType)
	if sch.Field(1).Name != "tensor" || !ok || len(tt.Shape()) != 3 || tt.Shape()[0] != 3 || tt.Shape()[1] != 8 || sch.Field(2).Name != "cls" {
		t.Fatalf("schema %s", sch)
	}
	info := r.plan(t, cmd)
	sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var rows []string
	err = sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
		img := rec.Column(0).(*array.Struct)
		tensor := rec.Column(1).(*schema.TensorArray).Storage().(*array.FixedSizeList)
		values := tensor.ListValues().(*array.Float32)
		for i := 0; i < int(rec.NumRows()); i++ {
			ir := imagerow.At(img, i)
			desc := ir.Origin[len("mem:/data/"):] + " " + rec.Column(2).ValueStr(i)
			switch {
			case tensor.IsNull(i):
				desc += " no tensor"
			default:
				v := values.Float32Values()[i*192 : (i+1)*192]
				for _, x := range v {
					if x < 0 || x > 1 {
						t.Errorf("%s: tensor value %v outside [0, 1] after scaling", ir.Origin, x)
					}
				}
				desc += " tensor"
			}
			rows = append(rows, fmt.Sprintf("%s %dx%dx%d", desc, ir.Height, ir.Width, ir.NChannels))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
}

func TestTransformErrorsNameStageAndKey(t *testing.T) {
	r := defaultRig(t)
	_, err := r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+testBase+`", "transforms": [{"action": "flip", "flipCode": 1}, {"action": "resize", "height": -3, "width": 4}]}`))
	if wire.KindOf(err) != wire.KindInvalidArgument || !strings.Contains(err.Error(), "transforms[1].height") {
		t.Errorf("bad stage: %v", err)
	}
	_, err = r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+testBase+`", "tensor": {}}`))
	if wire.KindOf(err) != wire.KindInvalidArgument || !strings.Contains(err.Error(), `"tensor"`) {
		t.Errorf("tensor without fixed size: %v", err)
	}
}

// jpegOf is a w×h photo-like JPEG (smooth gradients plus texture).
func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: byte(x * 255 / w), G: byte(y * 255 / h), B: byte(128 + 100*math.Sin(float64(x)/15)*math.Cos(float64(y)/20)), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFastResizeKeepsShapesAndStaysClose: decoding a JPEG at reduced scale
// before the resize gives the same shapes as the exact pipeline and pixels
// close to it (DCT scaling averages where INTER_LINEAR samples).
func TestFastResizeKeepsShapesAndStaysClose(t *testing.T) {
	files := map[string][]byte{"/data/a.jpg": jpegOf(t, 640, 480), "/data/b.jpg": jpegOf(t, 333, 517)}
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	read := func(fast bool) []imagerow.Row {
		info := r.plan(t, fmt.Sprintf(`{"path": %q, "numPartitions": 1, "fastResize": %v,
			"transforms": [{"action": "resize", "size": 100, "keepAspectRatio": true}]}`, testBase, fast))
		sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		var rows []imagerow.Row
		err = sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := imagerow.At(rec.Column(0).(*array.Struct), i)
				row.Data = bytes.Clone(row.Data)
				rows = append(rows, row)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	exact, fast := read(false), read(true)
	for i := range exact {
		e, f := exact[i], fast[i]
		if e.Height != f.Height || e.Width != f.Width || e.NChannels != f.NChannels {
			t.Fatalf("%s: fast %dx%d, exact %dx%d", e.Origin, f.Height, f.Width, e.Height, e.Width)
		}
		var se float64
		for j := range e.Data {
			d := float64(e.Data[j]) - float64(f.Data[j])
			se += d * d
		}
		psnr := 10 * math.Log10(255*255/(se/float64(len(e.Data))))
		t.Logf("%s: %dx%d, PSNR fast vs exact %.1f dB", e.Origin, e.Height, e.Width, psnr)
		if psnr < 30 {
			t.Errorf("%s: fast resize %.1f dB from the exact pipeline", e.Origin, psnr)
		}
	}
}
