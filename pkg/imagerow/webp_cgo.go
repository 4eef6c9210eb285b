//go:build cgo

package imagerow

/*
#cgo LDFLAGS: -lwebp
#include <stdint.h>
#include <webp/decode.h>

// ifl_webp_info reads the header only (VP8X/VP8/VP8L): dimensions,
// whether alpha is declared, and lossy (1) or lossless (2). Returns the
// libwebp status (0 = OK).
static int ifl_webp_info(const uint8_t *data, size_t len, int *w, int *h, int *alpha, int *format) {
	WebPBitstreamFeatures f;
	VP8StatusCode st = WebPGetFeatures(data, len, &f);
	if (st != VP8_STATUS_OK) return (int)st;
	*w = f.width;
	*h = f.height;
	*alpha = f.has_alpha;
	*format = f.format;
	return 0;
}

// ifl_webp_decode decodes straight into out (h rows of w*nch bytes) with
// libwebp's own BGR/BGRA output — the bytes dwebp writes, reordered by
// libwebp itself. The cancel flag is checked before the (single) call:
// libwebp's one-shot decode has no progress hook. Returns 0, -1 or -3.
static int ifl_webp_decode(const uint8_t *data, size_t len, uint8_t *out, int w, int h, int nch, const int *cancel) {
	if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED)) return -3;
	size_t stride = (size_t)w * nch, size = stride * (size_t)h;
	uint8_t *r = nch == 4 ? WebPDecodeBGRAInto(data, len, out, size, (int)stride)
	                      : WebPDecodeBGRInto(data, len, out, size, (int)stride);
	return r == NULL ? -1 : 0;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"
)

// WebPDecoder names the WebP implementation compiled in.
const WebPDecoder = "libwebp"

// decodeWebP decodes with the system libwebp. The channel choice is the
// x/image/webp path's (webp.go): 4 channels exactly when some pixel is
// not opaque. Files that may carry alpha — lossless ones always (their
// header's alpha bit is only a hint) and lossy ones that declare it — are
// decoded as BGRA and compacted in place to BGR when every alpha is 255.
func decodeWebP(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	if len(data) == 0 {
		return Row{}, errors.New("empty WebP")
	}
	var w, h, alpha, format C.int
	src := (*C.uint8_t)(unsafe.Pointer(&data[0]))
	if st := C.ifl_webp_info(src, C.size_t(len(data)), &w, &h, &alpha, &format); st != 0 {
		return Row{}, fmt.Errorf("decode webp: header: libwebp status %d", int(st))
	}
	nch := 3
	if alpha != 0 || format == 2 {
		nch = 4
	}
	// Budget before any pixel buffer exists (libwebp's Into functions
	// allocate only small per-row state).
	if err := checkSize(int(h), int(w), nch, opts.maxPixels()); err != nil {
		return Row{}, err
	}
	cancel := watchCancel(ctx)
	defer cancel.release()
	out := opts.alloc(int(w) * int(h) * nch)
	// data and out hold no Go pointers and are used only during the call.
	switch C.ifl_webp_decode(src, C.size_t(len(data)), (*C.uint8_t)(unsafe.Pointer(&out[0])), w, h, C.int(nch), cancel.ptr()) {
	case 0:
	case cErrCancel:
		return Row{}, fmt.Errorf("decode webp: %w", ctx.Err())
	default:
		return Row{}, errors.New("decode webp: libwebp could not decode the image")
	}
	if nch == 4 && opaque(out) {
		out, nch = bgraToBGR(out), 3
	}
	return Row{Origin: origin, Height: int32(h), Width: int32(w), NChannels: int32(nch), Mode: modeFor(nch), Data: out}, nil
}

// opaque reports whether every alpha byte of B,G,R,A pixels is 255.
func opaque(bgra []byte) bool {
	for i := 3; i < len(bgra); i += 4 {
		if bgra[i] != 0xff {
			return false
		}
	}
	return true
}

// bgraToBGR drops alpha in place and returns the B,G,R prefix.
func bgraToBGR(p []byte) []byte {
	n := len(p) / 4
	for i := 0; i < n; i++ {
		p[3*i], p[3*i+1], p[3*i+2] = p[4*i], p[4*i+1], p[4*i+2]
	}
	return p[:3*n]
}
