package imagerow

import (
	"context"
	"fmt"

	"golang.org/x/image/webp"
)

// decodeWebPGo decodes with golang.org/x/image/webp: the decoder of
// CGO_ENABLED=0 builds. Lossless output is exact; lossy output differs
// from libwebp's by rounding in its YUV->RGB conversion. Channels follow
// channelsForImage: x/image returns NRGBA (lossless) or NYCbCrA (lossy
// with alpha), so 4 channels exactly when some pixel is not opaque.
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
