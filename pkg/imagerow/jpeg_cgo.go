//go:build cgo

package imagerow

/*
#cgo LDFLAGS: -ljpeg
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// libjpeg reports errors by calling error_exit, whose default prints and
// calls exit(). We longjmp back to the entry point instead, so a corrupt
// file costs one error value, not the process.
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
} ifl_err;

typedef struct {
	struct jpeg_decompress_struct cinfo;
	ifl_err err;
	struct jpeg_progress_mgr prog;
	const int *cancel; // set to non-zero by Go to stop; may be NULL
	int max_scans;
	int code;          // -2 scan limit, -3 cancelled (see cancel_cgo.go)
	int cmyk;          // output is CMYK that we convert to BGR
} ifl_ctx;

// ifl_progress is libjpeg's progress hook: called once per iMCU row while
// a multi-scan file is absorbed in jpeg_start_decompress and once per
// jpeg_read_scanlines call. It enforces the scan limit (the idea of
// libjpeg-turbo's TJPARAM_SCANLIMIT) and polls the cancel flag.
static void ifl_progress(j_common_ptr cinfo) {
	ifl_ctx *c = (ifl_ctx *)((char *)cinfo - offsetof(ifl_ctx, cinfo));
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	if (d->input_scan_number > c->max_scans) {
		snprintf(c->err.msg, sizeof c->err.msg, "more than %d scans", c->max_scans);
		c->code = -2;
		longjmp(c->err.jb, 1);
	}
	if (c->cancel != NULL && __atomic_load_n(c->cancel, __ATOMIC_RELAXED)) {
		strcpy(c->err.msg, "cancelled");
		c->code = -3;
		longjmp(c->err.jb, 1);
	}
}

static void ifl_error_exit(j_common_ptr cinfo) {
	ifl_err *e = (ifl_err *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jb, 1);
}

// Warnings (msg_level -1) are ignored like Java's ImageIO ignores them,
// except premature end of data: libjpeg would pad a truncated file with
// gray, and we would rather return an invalid row than invented pixels.
static void ifl_emit_message(j_common_ptr cinfo, int msg_level) {
	ifl_err *e = (ifl_err *)cinfo->err;
	if (msg_level < 0) {
		e->pub.num_warnings++;
		if (e->pub.msg_code == JWRN_JPEG_EOF) {
			(*cinfo->err->format_message)(cinfo, e->msg);
			longjmp(e->jb, 1);
		}
	}
}

static void ifl_output_message(j_common_ptr cinfo) { (void)cinfo; }

static ifl_ctx *ifl_new(const int *cancel, int max_scans) {
	ifl_ctx *c = (ifl_ctx *)calloc(1, sizeof(ifl_ctx));
	if (c == NULL) return NULL;
	c->cancel = cancel;
	c->max_scans = max_scans;
	c->prog.progress_monitor = ifl_progress;
	c->cinfo.err = jpeg_std_error(&c->err.pub);
	c->err.pub.error_exit = ifl_error_exit;
	c->err.pub.emit_message = ifl_emit_message;
	c->err.pub.output_message = ifl_output_message;
	if (setjmp(c->err.jb)) {
		free(c);
		return NULL;
	}
	jpeg_create_decompress(&c->cinfo);
	c->cinfo.progress = &c->prog;
	return c;
}

static void ifl_free(ifl_ctx *c) {
	jpeg_destroy_decompress(&c->cinfo);
	free(c);
}

static const char *ifl_msg(ifl_ctx *c) { return c->err.msg; }

// ifl_code turns a failure into the return code Go expects: -1 for a bad
// file, or the limit/cancel code the progress monitor recorded.
static int ifl_code(ifl_ctx *c) { return c->code ? c->code : -1; }

// ifl_header reads the markers and picks the output colour space: gray stays
// gray (1 channel), YCbCr/RGB is converted by libjpeg straight to BGR (the
// same islow IDCT and fancy upsampling Java's ImageIO uses), CMYK/YCCK is
// read as CMYK and converted to BGR in ifl_read. Returns the channel count,
// or -1 with the message in ifl_msg.
static int ifl_header(ifl_ctx *c, const unsigned char *buf, unsigned long len, int *w, int *h) {
	if (setjmp(c->err.jb)) return ifl_code(c);
	jpeg_mem_src(&c->cinfo, buf, len);
	if (jpeg_read_header(&c->cinfo, TRUE) != JPEG_HEADER_OK) {
		strcpy(c->err.msg, "no image in JPEG stream");
		return -1;
	}
	*w = (int)c->cinfo.image_width;
	*h = (int)c->cinfo.image_height;
	switch (c->cinfo.jpeg_color_space) {
	case JCS_GRAYSCALE:
		c->cinfo.out_color_space = JCS_GRAYSCALE;
		return 1;
	case JCS_YCbCr:
	case JCS_RGB:
		c->cinfo.out_color_space = JCS_EXT_BGR;
		return 3;
	case JCS_CMYK:
	case JCS_YCCK:
		c->cinfo.out_color_space = JCS_CMYK;
		c->cmyk = 1;
		return 3;
	default:
		snprintf(c->err.msg, sizeof c->err.msg, "unsupported JPEG colour space %d with %d components",
			(int)c->cinfo.jpeg_color_space, c->cinfo.num_components);
		return -1;
	}
}

// ifl_dc_components writes the ids of the components that a progressive
// file decodes with a 1x1 IDCT at the scale ifl_scale set (which reads only
// their DC coefficients; a subsampled chroma component is scaled up by a
// larger IDCT instead, which reads AC coefficients) and returns how many.
static int ifl_dc_components(ifl_ctx *c, unsigned char ids[4]) {
	int n = 0;
	if (!c->cinfo.progressive_mode) return 0;
	for (int i = 0; i < c->cinfo.num_components && n < 4; i++) {
#if JPEG_LIB_VERSION >= 70
		int size = c->cinfo.comp_info[i].DCT_h_scaled_size;
#else
		int size = c->cinfo.comp_info[i].DCT_scaled_size;
#endif
		if (size == 1) ids[n++] = (unsigned char)c->cinfo.comp_info[i].component_id;
	}
	return n;
}

// ifl_restart forgets the stream ifl_header read, so that ifl_header can
// read another (the DC scans of the same file, jpegDCScans).
static void ifl_restart(ifl_ctx *c) { jpeg_abort_decompress(&c->cinfo); }

// ifl_dc_only turns off block smoothing for a stream without some AC
// scans: it would estimate AC coefficients that a 1x1 IDCT never reads (and
// a component with all its scans keeps all its coefficients).
static void ifl_dc_only(ifl_ctx *c) { c->cinfo.do_block_smoothing = FALSE; }

// ifl_scale asks libjpeg to decode at 1/den (DCT scaling) and returns the
// output size. Returns 0, or a negative code with the message in ifl_msg.
static int ifl_scale(ifl_ctx *c, int den, int *w, int *h) {
	if (setjmp(c->err.jb)) return ifl_code(c);
	c->cinfo.scale_num = 1;
	c->cinfo.scale_denom = (unsigned int)den;
	jpeg_calc_output_dimensions(&c->cinfo);
	*w = (int)c->cinfo.output_width;
	*h = (int)c->cinfo.output_height;
	return 0;
}

// IFL_ROWS is how many scanlines one jpeg_read_scanlines call may fill:
// libjpeg-turbo returns as many as its upsampler has ready, so offering
// several rows saves calls without any extra buffering.
#define IFL_ROWS 16

// ifl_read decodes every scanline straight into out (h*w*nch bytes, row
// pointers into the caller's buffer, no intermediate copy). For CMYK it
// decodes into a scratch row and converts each pixel with the same integer
// formula as Go's color.CMYKToRGB, after undoing Adobe's inverted storage
// (Photoshop writes 255-ink and flags it with an APP14 marker). Returns 0,
// or a negative code (ifl_code) with the message in ifl_msg.
static int ifl_read(ifl_ctx *c, unsigned char *out, int nch) {
	// volatile: it is read after longjmp returns to the setjmp below.
	unsigned char *volatile scratch = NULL;
	if (setjmp(c->err.jb)) {
		free(scratch);
		return ifl_code(c);
	}
	jpeg_start_decompress(&c->cinfo);
	unsigned int w = c->cinfo.output_width;
	size_t stride = (size_t)w * nch;
	if (c->cmyk) {
		scratch = (unsigned char *)malloc((size_t)w * 4);
		if (scratch == NULL) {
			strcpy(c->err.msg, "out of memory");
			return -1;
		}
	}
	int inverted = c->cinfo.saw_Adobe_marker;
	JSAMPROW rows[IFL_ROWS];
	while (c->cinfo.output_scanline < c->cinfo.output_height) {
		unsigned int y = c->cinfo.output_scanline;
		unsigned char *dst = out + (size_t)y * stride;
		if (!c->cmyk) {
			unsigned int n = c->cinfo.output_height - y;
			if (n > IFL_ROWS) n = IFL_ROWS;
			for (unsigned int i = 0; i < n; i++) rows[i] = dst + (size_t)i * stride;
			if (jpeg_read_scanlines(&c->cinfo, rows, n) == 0) {
				strcpy(c->err.msg, "jpeg_read_scanlines returned no row");
				return -1;
			}
			continue;
		}
		rows[0] = scratch;
		if (jpeg_read_scanlines(&c->cinfo, rows, 1) != 1) {
			strcpy(c->err.msg, "jpeg_read_scanlines returned no row");
			free(scratch);
			return -1;
		}
		for (unsigned int x = 0; x < w; x++) {
			unsigned int cc = scratch[4*x], m = scratch[4*x+1], y = scratch[4*x+2], k = scratch[4*x+3];
			if (inverted) { cc = 255 - cc; m = 255 - m; y = 255 - y; k = 255 - k; }
			unsigned int wk = 0xffff - k * 0x101;
			dst[3*x+0] = (unsigned char)(((0xffff - y * 0x101) * wk / 0xffff) >> 8);
			dst[3*x+1] = (unsigned char)(((0xffff - m * 0x101) * wk / 0xffff) >> 8);
			dst[3*x+2] = (unsigned char)(((0xffff - cc * 0x101) * wk / 0xffff) >> 8);
		}
	}
	jpeg_finish_decompress(&c->cinfo);
	free(scratch);
	return 0;
}
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "libjpeg-turbo"

// dcScansOnly: a progressive JPEG decoded at a scale where a component's
// IDCT is 1x1 skips that component's AC scans (jpegDCScans): the same
// pixels for a fraction of the entropy decoding. A variable so that the
// test can compare with the whole stream.
var dcScansOnly = true

// dcScanDecodes counts the decodes that skipped AC scans (for the test).
var dcScanDecodes atomic.Int64

// decodeJPEG decodes with the system libjpeg (libjpeg-turbo on Debian —
// the library Debian's JDK links, so the bytes match Spark's).
func decodeJPEG(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	if len(data) == 0 {
		return Row{}, errors.New("empty JPEG")
	}
	cancel := watchCancel(ctx)
	defer cancel.release()
	jc := C.ifl_new(cancel.ptr(), C.int(MaxJPEGScans))
	if jc == nil {
		return Row{}, errors.New("jpeg: cannot allocate decoder")
	}
	defer C.ifl_free(jc)

	// libjpeg keeps a pointer to the input across ifl_header and ifl_read,
	// which cgo allows only for pinned memory.
	var pin runtime.Pinner
	pin.Pin(&data[0])
	defer pin.Unpin()

	var w, h C.int
	nch := int(C.ifl_header(jc, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &w, &h))
	if nch < 0 {
		return Row{}, jpegErr(ctx, jc, nch)
	}
	// Budget check on the header's dimensions, before libjpeg allocates
	// its buffers in jpeg_start_decompress and before we allocate ours.
	if err := checkSize(int(h), int(w), nch, opts.maxPixels()); err != nil {
		return Row{}, err
	}
	if den := opts.shrink(int(h), int(w)); den > 1 {
		if rc := C.ifl_scale(jc, C.int(den), &w, &h); rc != 0 {
			return Row{}, jpegErr(ctx, jc, int(rc))
		}
		if err := readDCScansOnly(ctx, jc, data, den, &pin); err != nil {
			return Row{}, err
		}
	}
	out := opts.alloc(int(w) * int(h) * nch)
	if rc := C.ifl_read(jc, (*C.uchar)(unsafe.Pointer(&out[0])), C.int(nch)); rc != 0 {
		return Row{}, jpegErr(ctx, jc, int(rc))
	}
	return Row{Origin: origin, Height: int32(h), Width: int32(w), NChannels: int32(nch), Mode: modeFor(nch), Data: out}, nil
}

// readDCScansOnly points jc — its header read, its scale set to 1/den —
// at the file without the AC scans that its 1×1-IDCT components never read
// (jpegDCScans). Nothing changes for a baseline file, a scale whose IDCTs
// all read AC coefficients, or a stream the walk does not follow.
func readDCScansOnly(ctx context.Context, jc *C.ifl_ctx, data []byte, den int, pin *runtime.Pinner) error {
	var cids [4]C.uchar
	n := int(C.ifl_dc_components(jc, &cids[0]))
	if n == 0 || !dcScansOnly {
		return nil
	}
	ids := C.GoBytes(unsafe.Pointer(&cids[0]), C.int(n))
	dc, ok := jpegDCScans(data, func(id byte) bool { return bytes.IndexByte(ids, id) >= 0 })
	if !ok {
		return nil
	}
	pin.Pin(&dc[0])
	C.ifl_restart(jc)
	var w, h C.int // the same frame header: the same size
	if rc := int(C.ifl_header(jc, (*C.uchar)(unsafe.Pointer(&dc[0])), C.ulong(len(dc)), &w, &h)); rc < 0 {
		return jpegErr(ctx, jc, rc)
	}
	C.ifl_dc_only(jc)
	if rc := C.ifl_scale(jc, C.int(den), &w, &h); rc != 0 {
		return jpegErr(ctx, jc, int(rc))
	}
	dcScanDecodes.Add(1)
	return nil
}

// jpegErr maps a C return code to the error Decode reports.
func jpegErr(ctx context.Context, jc *C.ifl_ctx, rc int) error {
	msg := C.GoString(C.ifl_msg(jc))
	switch rc {
	case cErrLimit:
		return fmt.Errorf("%w: jpeg: %s", ErrDecodeLimit, msg)
	case cErrCancel:
		return fmt.Errorf("jpeg: %w", ctx.Err())
	}
	return fmt.Errorf("jpeg: %s", msg)
}

// jpegHeader reads a JPEG's size and Spark channel count with libjpeg's
// jpeg_read_header (ifl_header), the same call and colour-space rule the
// decode starts with, without decompressing anything.
func jpegHeader(data []byte) (h, w, nch int, err error) {
	if len(data) == 0 {
		return 0, 0, 0, errors.New("empty JPEG")
	}
	jc := C.ifl_new(nil, C.int(MaxJPEGScans))
	if jc == nil {
		return 0, 0, 0, errors.New("jpeg: cannot allocate decoder")
	}
	defer C.ifl_free(jc)
	var pin runtime.Pinner
	pin.Pin(&data[0])
	defer pin.Unpin()
	var cw, ch C.int
	n := int(C.ifl_header(jc, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &cw, &ch))
	if n < 0 {
		return 0, 0, 0, jpegErr(context.Background(), jc, n)
	}
	return int(ch), int(cw), n, nil
}
