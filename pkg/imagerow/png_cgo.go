//go:build cgo

package imagerow

/*
#cgo LDFLAGS: -lz
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IFL_PNG_MSG 120

// ifl_png_job describes one PNG whose chunk list and CRCs Go has checked
// (pngCleanChunks): where its IDAT chunks start, its IHDR, and how samples
// become Spark bytes (channel count, palette table, tRNS colour), all
// decided in Go so the rules live in one place.
typedef struct {
	const unsigned char *data; // whole file
	size_t len, idat;          // file length; offset of the first IDAT chunk
	unsigned int w, h;
	int depth, ctype, interlace, nch;
	const unsigned char *lut;  // palette: 256 entries of B,G,R,A
	unsigned int trns[3];      // RGB tRNS colour (8-bit: low bytes)
	int trns_on;
	const int *cancel;         // polled once per row; may be NULL
	char msg[IFL_PNG_MSG];
} ifl_png_job;

static unsigned char ifl_s16(const unsigned char *p) {
	unsigned int v = (unsigned int)p[0] << 8 | p[1];
	return (unsigned char)((v * 255 + 32767) / 65535);
}

// ifl_png_emit converts n pixels of one unfiltered row r into dst, step
// bytes apart (nch for plain rows, more for interlace passes). The rules
// are those of the Go path (png.go, convert.go): gray below 8 bits is
// scaled, 16-bit samples are rounded by scale16, gray+alpha drops alpha,
// RGB with tRNS gets alpha 0 on the exact colour (8-bit: low bytes, as Go).
static void ifl_png_emit(const ifl_png_job *j, const unsigned char *r, unsigned char *dst, size_t step, unsigned int n) {
	int d = j->depth, nch = j->nch;
	unsigned int i;
	switch (j->ctype * 32 + d) {
	case 0 * 32 + 1: case 0 * 32 + 2: case 0 * 32 + 4: {
		unsigned int mask = (1u << d) - 1, scale = 255 / mask;
		for (i = 0; i < n; i++, dst += step) {
			unsigned int bit = i * d;
			unsigned char v = (unsigned char)(((r[bit >> 3] >> (8 - d - (bit & 7))) & mask) * scale);
			dst[0] = v;
			if (nch == 3) dst[1] = dst[2] = v;
		}
		return;
	}
	case 3 * 32 + 1: case 3 * 32 + 2: case 3 * 32 + 4: case 3 * 32 + 8: {
		unsigned int mask = (1u << d) - 1;
		for (i = 0; i < n; i++, dst += step) {
			unsigned int bit = i * d;
			const unsigned char *e = j->lut + 4 * ((r[bit >> 3] >> (8 - d - (bit & 7))) & mask);
			dst[0] = e[0]; dst[1] = e[1]; dst[2] = e[2];
			if (nch == 4) dst[3] = e[3];
		}
		return;
	}
	case 0 * 32 + 8:
		if (step == 1) { memcpy(dst, r, n); return; }
		for (i = 0; i < n; i++, dst += step) dst[0] = r[i];
		return;
	case 0 * 32 + 16:
		for (i = 0; i < n; i++, dst += step) dst[0] = ifl_s16(r + 2 * i);
		return;
	case 4 * 32 + 8:
		for (i = 0; i < n; i++, dst += step) dst[0] = r[2 * i];
		return;
	case 4 * 32 + 16:
		for (i = 0; i < n; i++, dst += step) dst[0] = ifl_s16(r + 4 * i);
		return;
	case 2 * 32 + 8:
		for (i = 0; i < n; i++, dst += step) {
			const unsigned char *p = r + 3 * i;
			dst[0] = p[2]; dst[1] = p[1]; dst[2] = p[0];
			if (nch == 4)
				dst[3] = (j->trns_on && p[0] == j->trns[0] && p[1] == j->trns[1] && p[2] == j->trns[2]) ? 0 : 255;
		}
		return;
	case 2 * 32 + 16:
		for (i = 0; i < n; i++, dst += step) {
			const unsigned char *p = r + 6 * i;
			dst[0] = ifl_s16(p + 4); dst[1] = ifl_s16(p + 2); dst[2] = ifl_s16(p);
			if (nch == 4) {
				unsigned int R = p[0] << 8 | p[1], G = p[2] << 8 | p[3], B = p[4] << 8 | p[5];
				dst[3] = (j->trns_on && R == j->trns[0] && G == j->trns[1] && B == j->trns[2]) ? 0 : 255;
			}
		}
		return;
	case 6 * 32 + 8:
		for (i = 0; i < n; i++, dst += step) {
			const unsigned char *p = r + 4 * i;
			dst[0] = p[2]; dst[1] = p[1]; dst[2] = p[0]; dst[3] = p[3];
		}
		return;
	case 6 * 32 + 16:
		for (i = 0; i < n; i++, dst += step) {
			const unsigned char *p = r + 8 * i;
			dst[0] = ifl_s16(p + 4); dst[1] = ifl_s16(p + 2); dst[2] = ifl_s16(p); dst[3] = ifl_s16(p + 6);
		}
		return;
	}
}

// ifl_png_unfilter undoes one row's filter in place (prev is the previous
// row of the same pass, all zero for its first row). Returns -1 for a
// filter type past 4, which image/png also rejects.
static int ifl_png_unfilter(int f, unsigned char *r, const unsigned char *prev, size_t n, size_t bpp) {
	size_t i;
	switch (f) {
	case 0: return 0;
	case 1: for (i = bpp; i < n; i++) r[i] += r[i - bpp]; return 0;
	case 2: for (i = 0; i < n; i++) r[i] += prev[i]; return 0;
	case 3:
		for (i = 0; i < bpp && i < n; i++) r[i] += prev[i] >> 1;
		for (; i < n; i++) r[i] += (unsigned char)(((unsigned int)r[i - bpp] + prev[i]) >> 1);
		return 0;
	case 4:
		for (i = 0; i < bpp && i < n; i++) r[i] += prev[i];
		for (; i < n; i++) {
			int a = r[i - bpp], b = prev[i], c = prev[i - bpp];
			int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
			r[i] += (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
		}
		return 0;
	}
	return -1;
}

typedef struct {
	z_stream z;
	size_t off;  // next chunk to feed
	size_t clen; // length of the IDAT body being fed
} ifl_png_rd;

// ifl_png_next feeds the next non-empty IDAT body to zlib. Returns -1 when
// the next chunk is not IDAT: the pixels ran out ("not enough pixel data",
// as image/png says).
static int ifl_png_next(const ifl_png_job *j, ifl_png_rd *rd) {
	for (;;) {
		if (rd->off + 12 > j->len) return -1;
		const unsigned char *c = j->data + rd->off;
		size_t n = (size_t)c[0] << 24 | (size_t)c[1] << 16 | (size_t)c[2] << 8 | c[3];
		if (memcmp(c + 4, "IDAT", 4) != 0 || n > j->len - rd->off - 12) return -1;
		rd->z.next_in = (unsigned char *)c + 8;
		rd->z.avail_in = (uInt)n;
		rd->clen = n;
		rd->off += 12 + n;
		if (n > 0) return 0;
	}
}

// ifl_png_fill inflates exactly n bytes into buf. *ended is set when the
// zlib stream ended (Adler-32 checked by zlib) exactly at the last byte.
static int ifl_png_fill(ifl_png_job *j, ifl_png_rd *rd, unsigned char *buf, size_t n, int *ended) {
	rd->z.next_out = buf;
	rd->z.avail_out = (uInt)n;
	while (rd->z.avail_out > 0) {
		if (rd->z.avail_in == 0 && ifl_png_next(j, rd) != 0) {
			strcpy(j->msg, "not enough pixel data");
			return -1;
		}
		int ret = inflate(&rd->z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END) {
			if (rd->z.avail_out > 0) {
				strcpy(j->msg, "not enough pixel data");
				return -1;
			}
			*ended = 1;
		} else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			snprintf(j->msg, IFL_PNG_MSG, "zlib: %s", rd->z.msg ? rd->z.msg : "error");
			return -1;
		}
	}
	return 0;
}

// ifl_png_tail ends the stream the way image/png does, and stops there:
// one more byte of pixel data is an error (however much more the stream
// would inflate to — a PNG may not make us inflate a bomb after its
// rows), the stream must then end with a good Adler-32, and IDAT chunks
// after the one where it ends are never read. Bytes left in that chunk
// after the stream's end are an error for image/png only if its
// read-ahead (bufio, plus direct reads for stored blocks) did not swallow
// them, which C cannot predict: it returns -4 and Go decides.
static int ifl_png_tail(ifl_png_job *j, ifl_png_rd *rd, int ended) {
	unsigned char extra;
	while (!ended) {
		if (j->cancel != NULL && __atomic_load_n(j->cancel, __ATOMIC_RELAXED)) return -3;
		if (rd->z.avail_in == 0 && ifl_png_next(j, rd) != 0) {
			strcpy(j->msg, "not enough pixel data");
			return -1;
		}
		rd->z.next_out = &extra;
		rd->z.avail_out = 1;
		int ret = inflate(&rd->z, Z_NO_FLUSH);
		if (rd->z.avail_out == 0) {
			strcpy(j->msg, "too much pixel data");
			return -1;
		}
		if (ret == Z_STREAM_END) {
			ended = 1;
		} else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			snprintf(j->msg, IFL_PNG_MSG, "zlib: %s", rd->z.msg ? rd->z.msg : "error");
			return -1;
		}
	}
	if (rd->z.avail_in > 0) {
		strcpy(j->msg, "bytes after the zlib stream");
		return -4;
	}
	return 0;
}

// ifl_png_rows inflates, unfilters and converts every row of every pass.
static int ifl_png_rows(ifl_png_job *j, ifl_png_rd *rd, unsigned char *out, unsigned char *cur, unsigned char *prev, int *ended) {
	static const unsigned int a7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
	static const unsigned int one[1][4] = {{0, 0, 1, 1}};
	static const int spp[7] = {1, 0, 3, 1, 2, 0, 4};
	size_t bits = (size_t)j->depth * spp[j->ctype], bpp = (bits + 7) / 8;
	size_t ostride = (size_t)j->w * j->nch;
	int passes = j->interlace ? 7 : 1;
	for (int p = 0; p < passes; p++) {
		const unsigned int *g = j->interlace ? a7[p] : one[0];
		if (g[0] >= j->w || g[1] >= j->h) continue; // empty pass: no rows at all
		unsigned int pw = (j->w - g[0] + g[2] - 1) / g[2], ph = (j->h - g[1] + g[3] - 1) / g[3];
		size_t rb = (pw * bits + 7) / 8;
		memset(prev, 0, rb + 1);
		for (unsigned int y = 0; y < ph; y++) {
			if (j->cancel != NULL && __atomic_load_n(j->cancel, __ATOMIC_RELAXED)) return -3;
			if (ifl_png_fill(j, rd, cur, rb + 1, ended) != 0) return -1;
			if (*ended && !(p == passes - 1 && y == ph - 1)) {
				strcpy(j->msg, "not enough pixel data");
				return -1;
			}
			if (ifl_png_unfilter(cur[0], cur + 1, prev + 1, rb, bpp) != 0) {
				strcpy(j->msg, "bad filter type");
				return -1;
			}
			unsigned char *dst = out + (size_t)(g[1] + y * g[3]) * ostride + (size_t)g[0] * j->nch;
			ifl_png_emit(j, cur + 1, dst, (size_t)g[2] * j->nch, pw);
			unsigned char *t = cur; cur = prev; prev = t;
		}
	}
	return 0;
}

// ifl_png_decode decodes j's pixels into out (h rows of w*nch bytes).
// Returns 0, -1 with the reason in j->msg, -3 when cancelled, or -4 when
// only image/png can tell whether the file is valid.
static int ifl_png_decode(ifl_png_job *j, unsigned char *out) {
	static const int spp[7] = {1, 0, 3, 1, 2, 0, 4};
	size_t row = ((size_t)j->w * j->depth * spp[j->ctype] + 7) / 8 + 1;
	unsigned char *cur = malloc(row), *prev = malloc(row);
	ifl_png_rd rd;
	memset(&rd, 0, sizeof rd);
	rd.off = j->idat;
	int rc = -1, ended = 0;
	if (cur == NULL || prev == NULL) {
		strcpy(j->msg, "out of memory");
	} else if (inflateInit(&rd.z) != Z_OK) {
		strcpy(j->msg, "zlib: cannot initialise");
	} else {
		rc = ifl_png_rows(j, &rd, out, cur, prev, &ended);
		if (rc == 0) rc = ifl_png_tail(j, &rd, ended);
		inflateEnd(&rd.z);
	}
	free(cur);
	free(prev);
	return rc;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// PNGDecoder names the PNG implementation compiled in.
const PNGDecoder = "zlib (C)"

// decodePNGLib decodes a PNG whose chunk list pngCleanChunks accepted in
// C, straight into the row bytes: zlib inflate, unfiltering, Adam7 and the
// conversion to Spark's bytes, with the same rules and the same errors as
// the image/png path (png.go). ok is false when the file is not eligible
// and image/png must decode it (row.Data may then hold a buffer of the
// row's size for it to reuse). The caller has checked the header against
// the pixel budget and the IDAT size limit.
func decodePNGLib(ctx context.Context, origin string, data []byte, info pngInfo, nch int, opts Options) (row Row, ok bool, err error) {
	clean, ok := pngCleanChunks(data, info)
	if !ok {
		return Row{}, false, nil
	}
	cancel := watchCancel(ctx)
	defer cancel.release()
	lut := new([1024]byte)
	if info.ctype == pngPalette {
		*lut = info.paletteLUT(clean.plte, clean.trns)
	}
	// The job is Go memory holding pointers to data and lut, which cgo
	// allows only for pinned memory; C uses them only during the call.
	var pin runtime.Pinner
	pin.Pin(&data[0])
	pin.Pin(lut)
	defer pin.Unpin()
	job := &C.ifl_png_job{
		data: (*C.uchar)(unsafe.Pointer(&data[0])), len: C.size_t(len(data)), idat: C.size_t(clean.idat),
		w: C.uint(info.width), h: C.uint(info.height), depth: C.int(info.depth), ctype: C.int(info.ctype),
		interlace: C.int(clean.interlace), nch: C.int(nch), lut: (*C.uchar)(unsafe.Pointer(&lut[0])),
		cancel: cancel.ptr(),
	}
	if info.ctype == pngRGB && len(clean.trns) == 6 {
		t := clean.trns
		job.trns_on = 1
		for i := range 3 {
			v := C.uint(t[2*i+1])
			if info.depth == 16 {
				v |= C.uint(t[2*i]) << 8
			}
			job.trns[i] = v
		}
	}
	out := opts.alloc(info.width * info.height * nch)
	switch C.ifl_png_decode(job, (*C.uchar)(unsafe.Pointer(&out[0]))) {
	case 0:
	case cUndecided:
		// Rare (junk after the zlib stream in its last IDAT chunk):
		// image/png decides, reusing the buffer.
		return Row{Data: out}, false, nil
	case cErrCancel:
		return Row{}, true, fmt.Errorf("decode png: %w", ctx.Err())
	default:
		return Row{}, true, errors.New("decode png: " + C.GoString(&job.msg[0]))
	}
	return Row{Origin: origin, Height: int32(info.height), Width: int32(info.width),
		NChannels: int32(nch), Mode: modeFor(nch), Data: out}, true, nil
}
