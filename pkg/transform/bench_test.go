package transform

import (
	"math/rand/v2"
	"testing"

	"github.com/imageflight/imageflight/pkg/stage"
)

func photoLike(h, w, c int) Image {
	// smooth content plus noise, so no stage can take a shortcut on flat data
	r := rand.New(rand.NewPCG(1, 2))
	m := Image{Height: h, Width: w, Channels: c, Data: make([]byte, h*w*c)}
	for y := range h {
		for x := range w {
			for k := range c {
				m.Data[(y*w+x)*c+k] = byte((x*(k+1) + y*2 + r.IntN(16)) & 255)
			}
		}
	}
	return m
}

func benchStages(b *testing.B, stages string, img Image) {
	st := mustParse(b, stages)
	b.SetBytes(int64(len(img.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(st, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(img.Height*img.Width)/b.Elapsed().Seconds()/1e6, "srcMP/s")
}

// BenchmarkResize1080pTo224 is the deep-learning case: a 1920x1080 BGR frame
// to a 224 shorter side (398x224).
func BenchmarkResize1080pTo224(b *testing.B) {
	benchStages(b, `[{"action":"resize","size":224,"keepAspectRatio":true}]`, photoLike(1080, 1920, 3))
}

// BenchmarkResize1080pTo224Area is the same with interpolation "area"
// (cv2's INTER_AREA).
func BenchmarkResize1080pTo224Area(b *testing.B) {
	benchStages(b, `[{"action":"resize","size":224,"keepAspectRatio":true,"interpolation":"area"}]`, photoLike(1080, 1920, 3))
}

// BenchmarkResize1080pTo224Antialias is the same with interpolation
// "antialias" (torchvision's Resize(antialias=True)).
func BenchmarkResize1080pTo224Antialias(b *testing.B) {
	benchStages(b, `[{"action":"resize","size":224,"keepAspectRatio":true,"interpolation":"antialias"}]`, photoLike(1080, 1920, 3))
}

// BenchmarkResize1080pHalf hits OpenCV's exact-2x area path.
func BenchmarkResize1080pHalf(b *testing.B) {
	benchStages(b, `[{"action":"resize","height":540,"width":960}]`, photoLike(1080, 1920, 3))
}

func BenchmarkResize1080pUp(b *testing.B) {
	benchStages(b, `[{"action":"resize","height":1440,"width":2560}]`, photoLike(1080, 1920, 3))
}

func BenchmarkBlur5x5_1080p(b *testing.B) {
	benchStages(b, `[{"action":"blur","height":5,"width":5}]`, photoLike(1080, 1920, 3))
}

func BenchmarkGaussian7_1080p(b *testing.B) {
	benchStages(b, `[{"action":"gaussiankernel","apertureSize":7,"sigma":0}]`, photoLike(1080, 1920, 3))
}

func BenchmarkPipeline224(b *testing.B) {
	benchStages(b, `[{"action":"resize","size":256,"keepAspectRatio":true},{"action":"centercrop","height":224,"width":224},{"action":"flip","flipCode":1}]`,
		photoLike(1080, 1920, 3))
}

func BenchmarkToTensor224(b *testing.B) {
	img := photoLike(224, 224, 3)
	p := stage.TensorParams{ChannelOrder: "RGB", Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, ScaleFactor: 1.0 / 255}
	b.SetBytes(int64(len(img.Data)))
	for b.Loop() {
		if _, err := ToTensor(img, p); err != nil {
			b.Fatal(err)
		}
	}
}
