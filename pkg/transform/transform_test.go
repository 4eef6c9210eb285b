package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/stage"
)

func mustParse(t testing.TB, s string) []stage.Stage {
	t.Helper()
	st, err := stage.Parse(json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func seq(h, w, c int) Image {
	m := Image{Height: h, Width: w, Channels: c, Data: make([]byte, h*w*c)}
	for i := range m.Data {
		m.Data[i] = byte(i)
	}
	return m
}

func TestApplySmall(t *testing.T) {
	// 2x3 BGR image, pixel values 0..17
	in := seq(2, 3, 3)
	tests := []struct {
		stages string
		want   Image
	}{
		{`[{"action":"flip","flipCode":0}]`, Image{2, 3, 3, []byte{9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8}}},
		{`[{"action":"flip","flipCode":1}]`, Image{2, 3, 3, []byte{6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11}}},
		{`[{"action":"flip","flipCode":-1}]`, Image{2, 3, 3, []byte{15, 16, 17, 12, 13, 14, 9, 10, 11, 6, 7, 8, 3, 4, 5, 0, 1, 2}}},
		{`[{"action":"crop","x":1,"y":1,"height":1,"width":2}]`, Image{1, 2, 3, []byte{12, 13, 14, 15, 16, 17}}},
		// centercrop 1x1 of a 2x3 image: x = 3/2 - 0 = 1, y = 2/2 - 0 = 1
		{`[{"action":"centercrop","height":1,"width":1}]`, Image{1, 1, 3, []byte{12, 13, 14}}},
		{`[{"action":"centercrop","height":10,"width":10}]`, in},
		{`[{"action":"colorformat","format":4}]`, Image{2, 3, 3, []byte{2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 17, 16, 15}}},
		{`[{"action":"colorformat","format":0},{"action":"crop","x":0,"y":0,"height":1,"width":1}]`, Image{1, 1, 4, []byte{0, 1, 2, 255}}},
		{`[{"action":"threshold","threshold":8.9,"maxVal":200.5,"type":0}]`, Image{2, 3, 3, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 200, 200, 200, 200, 200, 200, 200, 200}}},
		{`[{"action":"resize","height":2,"width":3}]`, in},
	}
	for _, tc := range tests {
		orig := bytes.Clone(in.Data)
		got, err := Apply(mustParse(t, tc.stages), in)
		if err != nil {
			t.Errorf("%s: %v", tc.stages, err)
			continue
		}
		if got.Height != tc.want.Height || got.Width != tc.want.Width || got.Channels != tc.want.Channels || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("%s:\n got %v\nwant %v", tc.stages, got, tc.want)
		}
		if !bytes.Equal(in.Data, orig) {
			t.Fatalf("%s modified its input", tc.stages)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		stages string
		img    Image
		msg    string
	}{
		{`[{"action":"flip","flipCode":1},{"action":"crop","x":2,"y":0,"height":1,"width":2}]`, seq(2, 3, 3),
			"transforms[1] (crop): rectangle x=2 y=0 width=2 height=1 does not fit a 3x2 image: stage cannot apply to image"},
		{`[{"action":"colorformat","format":8}]`, seq(2, 3, 3),
			"transforms[0] (colorformat): COLOR_GRAY2BGR (8) needs 1 channels, image has 3: stage cannot apply to image"},
		{`[{"action":"colorformat","format":6}]`, seq(2, 3, 1),
			"transforms[0] (colorformat): COLOR_BGR2GRAY (6) needs 3 or 4 channels, image has 1: stage cannot apply to image"},
		{`[{"action":"resize","size":60000,"keepAspectRatio":true}]`, seq(1, 3, 1),
			"transforms[0] (resize): output would be 180000x60000x1, over the limit of 65535 per side and 1000000000 bytes: stage cannot apply to image"},
		{`[{"action":"resize","height":60000,"width":60000}]`, seq(1, 1, 1),
			"transforms[0] (resize): output would be 60000x60000x1, over the limit of 65535 per side and 1000000000 bytes: stage cannot apply to image"},
	}
	for _, tc := range tests {
		st := mustParse(t, tc.stages)
		_, err := Apply(st, tc.img)
		var ae *stage.ApplyError
		if err == nil || err.Error() != tc.msg || !errors.As(err, &ae) || !errors.Is(err, stage.ErrStage) {
			t.Errorf("Apply(%s):\n got %v\nwant %q", tc.stages, err, tc.msg)
		}
		if _, _, _, serr := stage.OutputShape(st, tc.img.Height, tc.img.Width, tc.img.Channels); serr == nil || serr.Error() != tc.msg {
			t.Errorf("stage.OutputShape(%s) = %v, want %q", tc.stages, serr, tc.msg)
		}
	}
	for _, bad := range []Image{{2, 2, 2, make([]byte, 8)}, {2, 2, 3, make([]byte, 11)}, {0, 2, 3, nil}} {
		if _, err := Apply(nil, bad); !errors.Is(err, stage.ErrUnsupportedImage) {
			t.Errorf("Apply(%dx%dx%d, %d bytes) = %v, want stage.ErrUnsupportedImage", bad.Height, bad.Width, bad.Channels, len(bad.Data), err)
		}
	}
}

func TestApplyRow(t *testing.T) {
	row := ToRow("file:/x.png", seq(2, 3, 3))
	if row.Mode != imagerow.ModeCV8UC3 || row.NChannels != 3 {
		t.Fatalf("ToRow: %+v", row)
	}
	out, err := ApplyRow(mustParse(t, `[{"action":"colorformat","format":6}]`), row)
	if err != nil || out.Mode != imagerow.ModeCV8UC1 || out.NChannels != 1 || len(out.Data) != 6 || out.Origin != row.Origin {
		t.Fatalf("ApplyRow to gray: %+v, %v", out, err)
	}
	out, err = ApplyRow(mustParse(t, `[{"action":"colorformat","format":9}]`), out)
	if err != nil || out.Mode != imagerow.ModeCV8UC4 || out.NChannels != 4 || out.Height != 2 || out.Width != 3 {
		t.Fatalf("ApplyRow to BGRA: %+v, %v", out, err)
	}
	if _, err := ApplyRow(nil, imagerow.Invalid("file:/bad")); !errors.Is(err, stage.ErrUnsupportedImage) {
		t.Errorf("ApplyRow(invalid row) = %v", err)
	}
	bad := row
	bad.NChannels = 4
	if _, err := ApplyRow(nil, bad); !errors.Is(err, stage.ErrUnsupportedImage) {
		t.Errorf("ApplyRow(mode/nChannels mismatch) = %v", err)
	}
}

func TestToTensorErrors(t *testing.T) {
	p := stage.DefaultTensorParams
	p.Mean = []float64{1, 2, 3}
	_, err := ToTensor(seq(2, 2, 1), p)
	if err == nil || !errors.Is(err, stage.ErrStage) || !strings.Contains(err.Error(), "3 values, image has 1") {
		t.Errorf("ToTensor(gray, 3 means) = %v", err)
	}
	// BGRA drops alpha; RGB order puts R first
	tt, err := ToTensor(Image{1, 1, 4, []byte{10, 20, 30, 40}}, stage.DefaultTensorParams)
	if err != nil || tt.Channels != 3 || tt.F32[0] != 30 || tt.F32[1] != 20 || tt.F32[2] != 10 || tt.F64 != nil {
		t.Errorf("ToTensor(BGRA) = %+v, %v", tt, err)
	}
}

func TestToTensorAutoConvertToColor(t *testing.T) {
	gray := Image{1, 2, 1, []byte{7, 9}}
	tt, err := ToTensor(gray, stage.DefaultTensorParams) // SynapseML's default: one channel
	if err != nil || tt.Channels != 1 || len(tt.F32) != 2 || tt.F32[1] != 9 {
		t.Errorf("ToTensor(gray) = %+v, %v", tt, err)
	}
	p := stage.DefaultTensorParams
	p.AutoConvertToColor, p.Mean = true, []float64{1, 2, 3}
	tt, err = ToTensor(gray, p)
	// three equal channels, each minus its mean
	if err != nil || tt.Channels != 3 || !slices.Equal(tt.F32, []float32{6, 8, 5, 7, 4, 6}) {
		t.Errorf("ToTensor(gray, autoConvertToColor) = %+v, %v", tt, err)
	}
}

// TestFilterAfterCropReadsTheWholeImage: a crop is a view, so a filter
// right after it equals the filter on the whole image, cropped (reflecting
// only at the whole image's edges); a stage in between makes a new image.
func TestFilterAfterCropReadsTheWholeImage(t *testing.T) {
	m := Image{Height: 9, Width: 11, Channels: 3, Data: make([]byte, 9*11*3)}
	for i := range m.Data {
		m.Data[i] = byte(i * 37 % 251)
	}
	crop := `{"action":"crop","x":2,"y":3,"height":4,"width":5}`
	for _, filter := range []string{
		`{"action":"blur","height":5,"width":3}`,
		`{"action":"blur","height":17,"width":17}`,
		`{"action":"gaussiankernel","apertureSize":5,"sigma":0}`,
		`{"action":"gaussiankernel","apertureSize":4,"sigma":1}`,
	} {
		whole, err := Apply(mustParse(t, `[`+filter+`,`+crop+`]`), m)
		if err != nil {
			t.Fatal(err)
		}
		for _, pipe := range []string{
			crop + `,` + filter,
			`{"action":"crop","x":1,"y":1,"height":8,"width":9},{"action":"crop","x":1,"y":2,"height":4,"width":5},` + filter,
		} {
			got, err := Apply(mustParse(t, `[`+pipe+`]`), m)
			if err != nil || !bytes.Equal(got.Data, whole.Data) {
				t.Errorf("%s: %v\n got %v\nwant %v", pipe, err, got.Data, whole.Data)
			}
		}
		// threshold with type TOZERO and threshold -1 is an identity that makes a new image
		copied, err := Apply(mustParse(t, `[`+crop+`,{"action":"threshold","threshold":-1,"maxVal":0,"type":3},`+filter+`]`), m)
		if err != nil || bytes.Equal(copied.Data, whole.Data) {
			t.Errorf("%s after a copy of the crop reads beyond it: %v", filter, err)
		}
	}
}

func TestGaussianKernelSums(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 8, 9, 11, 129} {
		for _, s := range []float64{0, 0.3, 1, 7} {
			sum := 0.0
			for _, v := range gaussianKernel(n, s) {
				sum += v
			}
			if sum < 0.999999 || sum > 1.000001 {
				t.Errorf("gaussianKernel(%d, %g) sums to %g", n, s, sum)
			}
		}
	}
}

func TestReflect101(t *testing.T) {
	// gfedcb|abcdefgh|gfedcba, looping for wide kernels
	want := map[[2]int]int{{-1, 5}: 1, {-2, 5}: 2, {5, 5}: 3, {6, 5}: 2, {-7, 5}: 1, {12, 5}: 4, {3, 1}: 0, {-1, 2}: 1, {2, 2}: 0, {-3, 2}: 1}
	for in, w := range want {
		if got := reflect101(in[0], in[1]); got != w {
			t.Errorf("reflect101(%d, %d) = %d, want %d", in[0], in[1], got, w)
		}
	}
}

// TestResizeInterpolations: properties of "area" and "antialias" that hold
// whatever the reference (their fidelity to cv2 and torch is
// test_resize_interpolation.py's): a flat image stays flat, the size is
// the target, same size is a copy, and area's 2x path is the 2x2 average.
func TestResizeInterpolations(t *testing.T) {
	flat := Image{Height: 37, Width: 53, Channels: 3, Data: bytes.Repeat([]byte{9, 200, 77}, 37*53)}
	for _, kind := range []string{stage.InterArea, stage.InterAntialias} {
		for _, hw := range [][2]int{{10, 7}, {37, 53}, {80, 20}, {1, 1}} {
			got := applyResize(stage.Resize{Height: hw[0], Width: hw[1], Interpolation: kind}, flat)
			want := bytes.Repeat([]byte{9, 200, 77}, hw[0]*hw[1])
			if got.Height != hw[0] || got.Width != hw[1] || !bytes.Equal(got.Data, want) {
				t.Errorf("%s to %v: %dx%d, flat %v", kind, hw, got.Height, got.Width, bytes.Equal(got.Data, want))
			}
		}
	}
	in := seq(4, 6, 1)
	got := applyResize(stage.Resize{Height: 2, Width: 3, Interpolation: stage.InterArea}, in)
	want := []byte{4, 6, 8, 16, 18, 20} // (a+b+c+d+2)>>2 of each 2x2 block
	if !bytes.Equal(got.Data, want) {
		t.Errorf("area 2x = %v, want %v", got.Data, want)
	}
}
