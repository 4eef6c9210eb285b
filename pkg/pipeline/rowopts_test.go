package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// fullRow is every field of a streamed row, failure column included.
type fullRow struct {
	img     imagerow.Row
	failure string // "<null>" for null
	parts   string
}

func (r *rig) fullRows(t *testing.T, cmd string) ([]fullRow, *arrow.Schema) {
	t.Helper()
	var out []fullRow
	var schema *arrow.Schema
	for _, ep := range r.plan(t, cmd).GetEndpoint() {
		sp, err := r.work.Open(context.Background(), ep.GetTicket().GetTicket())
		if err != nil {
			t.Fatal(err)
		}
		schema = sp.Schema()
		err = sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
			fi := rec.Schema().FieldIndices(wire.FailureColumn)
			for i := 0; i < int(rec.NumRows()); i++ {
				fr := fullRow{img: imagerow.At(rec.Column(0).(*array.Struct), i), failure: "-"}
				fr.img.Data = append([]byte{}, fr.img.Data...)
				if len(fi) == 1 {
					fr.failure = rec.Column(fi[0]).ValueStr(i)
				}
				for c := 1; c < int(rec.NumCols()); c++ {
					if _, tensor := rec.Column(c).(array.ExtensionArray); tensor {
						continue
					}
					if name := rec.Schema().Field(c).Name; name != wire.FailureColumn {
						fr.parts += fmt.Sprintf("%s=%s;", name, rec.Column(c).ValueStr(i))
					}
				}
				out = append(out, fr)
			}
			return nil
		})
		sp.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out, schema
}

func TestHeaderOnlyRowsEqualDecodedRowsWithoutPixels(t *testing.T) {
	r := defaultRig(t)
	full, _ := r.fullRows(t, `{"path": "`+testBase+`"}`)
	head, schema := r.fullRows(t, `{"path": "`+testBase+`", "pixels": false}`)
	if len(full) != 7 || len(head) != len(full) || schema.NumFields() != 3 {
		t.Fatalf("%d full rows, %d header rows, schema %s", len(full), len(head), schema)
	}
	for i := range full {
		f, h := full[i], head[i]
		if len(h.img.Data) != 0 || f.parts != h.parts {
			t.Errorf("row %d: %d data bytes, parts %q vs %q", i, len(h.img.Data), h.parts, f.parts)
		}
		f.img.Data, h.img.Data = nil, nil
		if fmt.Sprint(f.img) != fmt.Sprint(h.img) {
			t.Errorf("row %d: header-only %+v, decoded %+v", i, h.img, f.img)
		}
	}
	if !full[2].img.Valid() || full[2].img.NChannels != 3 || full[4].img.Valid() {
		t.Errorf("fixture rows changed: %+v %+v", full[2].img, full[4].img)
	}
}

// A file whose header parses and whose body does not (cut.png) counts as
// the decoding read counts it: a row of its header without dropping, none
// with dropImageFailures (decoded to find out, pixels left out).
func TestHeaderOnlyCountsAsTheDecodingRead(t *testing.T) {
	files := plannertest.Tree(t)
	bad := plannertest.RGBPNG(t, 64, 64)
	idat := bytes.Index(bad, []byte("IDAT")) + 4
	for i := idat; i < len(bad)-16; i++ {
		bad[i] = 0xff // header intact, deflate stream garbage
	}
	files["/data/cut.png"] = bad
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	for _, drop := range []bool{false, true} {
		opts := fmt.Sprintf(`"path": "%s", "dropImageFailures": %t`, testBase, drop)
		full, _ := r.fullRows(t, `{`+opts+`}`)
		head, _ := r.fullRows(t, `{`+opts+`, "pixels": false}`)
		if len(head) != len(full) {
			t.Fatalf("drop=%t: %d header-only rows, %d decoded rows", drop, len(head), len(full))
		}
		cut := -1
		for i := range full {
			if len(head[i].img.Data) != 0 {
				t.Errorf("drop=%t row %d: %d data bytes in a header-only row", drop, i, len(head[i].img.Data))
			}
			if strings.HasSuffix(full[i].img.Origin, "/cut.png") {
				cut = i
			}
		}
		switch {
		case drop && cut >= 0:
			t.Errorf("dropImageFailures kept the cut file: %+v", full[cut].img)
		case !drop && (cut < 0 || full[cut].img.Valid() || !head[cut].img.Valid()):
			t.Errorf("cut.png without dropping: decoded valid=%t, header-only valid=%t (the documented deviation)",
				cut >= 0 && full[cut].img.Valid(), cut >= 0 && head[cut].img.Valid())
		}
	}
}

func TestFailureReasons(t *testing.T) {
	files := plannertest.Tree(t)
	files["/data/big.png"] = bombPNGOf(t)
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	for _, cmd := range []string{`{"path": "` + testBase + `", "failureReasons": true}`, `{"path": "` + testBase + `", "failureReasons": true, "pixels": false}`} {
		rows, schema := r.fullRows(t, cmd)
		if schema.Field(1).Name != wire.FailureColumn || !schema.Field(1).Nullable || schema.Field(1).Type.ID() != arrow.STRING {
			t.Fatalf("schema %s", schema)
		}
		var got []string
		for _, fr := range rows {
			if strings.Contains(fr.failure, "mem:") || strings.Contains(fr.failure, "/data/") {
				t.Errorf("reason %q names the path", fr.failure)
			}
			got = append(got, fr.img.Origin[strings.LastIndexByte(fr.img.Origin, '/')+1:]+": "+fr.failure)
		}
		want := "big.png: imagerow: image too large: 100000x100000 = 10000000000 pixels exceeds the budget of 67108864|" +
			"a.png: (null)|b.png: (null)|c.png: (null)|d.png: (null)|e.png: imagerow: unknown image format|f.png: (null)|top.png: (null)"
		if strings.Join(got, "|") != want {
			t.Errorf("%s:\n got %s\nwant %s", cmd, strings.Join(got, "|"), want)
		}
	}
}

func TestFailureColumnNameTaken(t *testing.T) {
	r := newRig(t, map[string][]byte{"/data/failure=x/a.png": plannertest.PNG(t, 1, 1, 0)}, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	_, err := r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+testBase+`", "failureReasons": true}`))
	var de *wire.DescriptorError
	if !errors.As(err, &de) || de.Key != "failureReasons" {
		t.Fatalf("error %v, want one naming failureReasons", err)
	}
}

// bombPNGOf is a PNG header claiming 100000×100000 pixels.
func bombPNGOf(t *testing.T) []byte {
	b := plannertest.RGBPNG(t, 1, 1)
	// IHDR's width and height are bytes 16..23.
	for i, v := range []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0} {
		b[16+i] = v
	}
	return b
}
