//go:build !cgo

package imagerow

import "context"

// WebPDecoder names the WebP implementation compiled in.
const WebPDecoder = "x/image/webp"

func decodeWebP(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	return decodeWebPGo(ctx, origin, data, opts)
}
