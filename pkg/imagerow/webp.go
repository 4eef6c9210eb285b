package imagerow

import (
	"context"
	"fmt"

	"golang.org/x/image/webp"
)

// decodeWebPGo decodes with golang.org/x/image/webp: the decoder of
// CGO_ENABLED=0 builds. Lossless output is exact; lossy output differs
// from libwebp's by rounding in the YUV->RGB conversion. Alpha follows
// channelsForImage: x/image returns NYCbCrA for lossy+alpha and NRGBA for
// lossless, so 4 channels exactly when some pixel is not opaque... except
// that NYCbCrA is never asked (it has no Opaque method), so any lossy file
// with an ALPH chunk is 4 channels.
func decodeWebPGo(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	budget := opts.maxPixels()
	if err := checkConfig(webp.DecodeConfig, data, budget); err != nil {
		return Row{}, err
	}
	img, err := webp.Decode(newCtxReader(ctx, data))
	if err != nil {
		return Row{}, fmt.Errorf("decode webp: %w", err)
	}
	nch := channelsForImage(img)
	if err := checkSize(img.Bounds().Dy(), img.Bounds().Dx(), nch, budget); err != nil {
		return Row{}, err
	}
	return makeRow(origin, img, nch, opts), nil
}
