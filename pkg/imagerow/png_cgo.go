//go:build cgo

package imagerow

/*
#cgo LDFLAGS: -lpng16
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>

typedef struct {
	const unsigned char *data;
	size_t len, off;
	char *msg; // caller's buffer of IFL_PNG_MSG bytes
} ifl_png_io;

#define IFL_PNG_MSG 200

// libpng's default error handler prints to stderr; we keep the message and
// longjmp back to ifl_png_decode instead.
static void ifl_png_error(png_structp png, png_const_charp msg) {
	ifl_png_io *io = (ifl_png_io *)png_get_error_ptr(png);
	strncpy(io->msg, msg, IFL_PNG_MSG - 1);
	io->msg[IFL_PNG_MSG - 1] = 0;
	png_longjmp(png, 1);
}

static void ifl_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

// Reading past the end of the buffer is an error: a truncated file never
// yields a partial image.
static void ifl_png_read(png_structp png, png_bytep dst, size_t n) {
	ifl_png_io *io = (ifl_png_io *)png_get_io_ptr(png);
	if (n > io->len - io->off) png_error(png, "unexpected end of file");
	memcpy(dst, io->data + io->off, n);
	io->off += n;
}

// ifl_png_decode decodes an 8-bit, non-interlaced gray/RGB/RGBA PNG whose
// chunk list and CRCs Go has already checked into out (h rows of w*nch
// bytes), RGB(A) swapped to BGR(A). All pointers are used only for the
// duration of the call. Returns 0, or -1 with the reason in msg.
static int ifl_png_decode(const unsigned char *data, size_t len, unsigned char *out,
                          png_uint_32 w, png_uint_32 h, int ctype, int nch, char *msg) {
	ifl_png_io io = {data, len, 0, msg};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, ifl_png_error, ifl_png_warning);
	if (png == NULL) {
		strcpy(msg, "cannot allocate decoder");
		return -1;
	}
	png_infop info = png_create_info_struct(png);
	if (info == NULL) {
		png_destroy_read_struct(&png, NULL, NULL);
		strcpy(msg, "cannot allocate decoder");
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		return -1;
	}
	png_set_read_fn(png, &io, ifl_png_read);
	// Go's image/png is the reference: no width/height/chunk-size limits
	// beyond the pixel budget checked before this call, every ancillary
	// chunk ignored, full 32K inflate window whatever the zlib header says,
	// and anything libpng merely warns about (extra compressed data, too
	// much image data, zlib errors past the last row) is an error.
	png_set_user_limits(png, 0x7fffffffU, 0x7fffffffU);
	png_set_chunk_malloc_max(png, 0);
	png_set_benign_errors(png, 0);
	// CRCs were verified in Go (hash/crc32), so libpng skips them.
	png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
#ifdef PNG_MAXIMUM_INFLATE_WINDOW
	png_set_option(png, PNG_MAXIMUM_INFLATE_WINDOW, PNG_OPTION_ON);
#endif
	png_read_info(png, info);
	if (png_get_image_width(png, info) != w || png_get_image_height(png, info) != h ||
	    png_get_bit_depth(png, info) != 8 || png_get_color_type(png, info) != ctype ||
	    png_get_interlace_type(png, info) != PNG_INTERLACE_NONE)
		png_error(png, "header mismatch");
	if (ctype & PNG_COLOR_MASK_COLOR) png_set_bgr(png);
	png_read_update_info(png, info);
	size_t stride = (size_t)w * (size_t)nch;
	if (png_get_rowbytes(png, info) != stride) png_error(png, "unexpected row size");
	for (png_uint_32 y = 0; y < h; y++) png_read_row(png, out + (size_t)y * stride, NULL);
	// Consume the rest of the zlib stream (Adler-32, extra data) and the
	// chunks up to IEND, as Go's decoder does.
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	return 0;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"unsafe"
)

// pngLibpng reports whether decodePNG may hand info's file to libpng: the
// scope is 8-bit, non-interlaced gray, RGB and RGBA without tRNS — the
// common photo and screenshot files, where image/png is slowest.
func pngLibpng(info pngInfo) bool {
	return info.depth == 8 && (info.ctype == pngGray || info.ctype == pngRGB || info.ctype == pngRGBA)
}

// pngCleanChunks walks every chunk up to IEND and accepts only files on
// which libpng and image/png cannot disagree about validity: every CRC
// correct, IHDR with standard methods and no interlace, no tRNS, at most
// one well-formed PLTE (colour types only) before the IDATs, one run of
// IDATs, no unknown critical chunks, chunk names libpng accepts, and an
// empty IEND. Anything else goes to image/png, which decides.
func pngCleanChunks(data []byte) bool {
	p := data[len(pngSignature):]
	var ctype byte
	seenIDAT, idatDone, seenPLTE := false, false, false
	for first := true; ; first = false {
		if len(p) < 12 {
			return false
		}
		n := binary.BigEndian.Uint32(p[0:4])
		if n > 0x7fffffff || uint64(n)+12 > uint64(len(p)) {
			return false
		}
		typ := string(p[4:8])
		for _, c := range p[4:8] {
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
				return false
			}
		}
		if crc32.ChecksumIEEE(p[4:8+n]) != binary.BigEndian.Uint32(p[8+n:12+n]) {
			return false
		}
		body := p[8 : 8+n]
		if first != (typ == "IHDR") {
			return false
		}
		if typ == "IDAT" {
			if idatDone {
				return false
			}
			seenIDAT = true
		} else if seenIDAT {
			idatDone = true
		}
		switch typ {
		case "IHDR":
			if n != 13 || body[10] != 0 || body[11] != 0 || body[12] != 0 {
				return false
			}
			ctype = body[9]
		case "PLTE":
			if seenPLTE || seenIDAT || ctype&2 == 0 || n == 0 || n%3 != 0 || n > 768 {
				return false
			}
			seenPLTE = true
		case "tRNS":
			return false
		case "IEND":
			return n == 0 && seenIDAT
		case "IDAT":
		default:
			if typ[0]&0x20 == 0 { // critical chunk libpng would not know
				return false
			}
		}
		p = p[12+n:]
	}
}

// decodePNGLib decodes an eligible PNG (pngLibpng and a clean chunk list)
// with libpng straight into the row bytes. ok is false when the file is
// not eligible and image/png must decode it. The caller has checked the
// header against the pixel budget.
func decodePNGLib(origin string, data []byte, info pngInfo, nch int) (row Row, ok bool, err error) {
	if !pngLibpng(info) || !pngCleanChunks(data) {
		return Row{}, false, nil
	}
	out := make([]byte, info.width*info.height*nch)
	var msg [C.IFL_PNG_MSG]C.char
	// data, out and msg hold no Go pointers and are used by C only for
	// the duration of the call, so they need no pinning.
	if C.ifl_png_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.png_uint_32(info.width), C.png_uint_32(info.height),
		C.int(info.ctype), C.int(nch), &msg[0]) != 0 {
		return Row{}, true, errors.New("decode png: libpng: " + C.GoString(&msg[0]))
	}
	return Row{Origin: origin, Height: int32(info.height), Width: int32(info.width),
		NChannels: int32(nch), Mode: modeFor(nch), Data: out}, true, nil
}
