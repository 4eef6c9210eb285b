//go:build !cgo

package imagerow

import (
	"bytes"
	"fmt"
	"image/jpeg"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "image/jpeg"

// decodeJPEG is the pure-Go fallback for CGO_ENABLED=0 builds. image/jpeg
// uses a different IDCT and nearest-neighbour chroma upsampling, so pixels
// differ from Spark's by a few levels (PSNR well above 30 dB); shapes and
// channel choice are the same as the libjpeg path. It is also about 4x
// slower, which is why the cgo build is the one to deploy.
func decodeJPEG(origin string, data []byte, budget int64) (Row, error) {
	if err := checkConfig(jpeg.DecodeConfig, data, budget); err != nil {
		return Row{}, err
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return Row{}, fmt.Errorf("decode jpeg: %w", err)
	}
	// Gray stays 1 channel; YCbCr, CMYK and Adobe RGB become BGR.
	nch := 3
	if channelsForImage(img) == 1 {
		nch = 1
	}
	return makeRow(origin, img, nch), nil
}
