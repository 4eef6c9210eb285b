//go:build cgo

// Package jpegenc writes JPEG test fixtures that Go's image/jpeg encoder
// cannot produce (progressive, CMYK/YCCK with an Adobe marker, exact chroma
// subsampling) using the system libjpeg. It exists only for fixture
// generation in tests and the corpus; nothing on the serving path uses it.
package jpegenc

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

// enc compresses pix (h*w*comps bytes) and returns a malloc'd buffer in *out.
// cs: 0 gray, 1 RGB input stored as YCbCr, 2 CMYK stored as CMYK, 3 CMYK
// stored as YCCK. Adobe-style inverted CMYK is what Photoshop writes; the
// caller passes inverted samples for it. Errors abort, which is acceptable
// for a fixture generator that is given valid parameters.
static unsigned long enc(const unsigned char *pix, int w, int h, int cs, int quality,
		int progressive, int hsamp, int vsamp, unsigned char **out) {
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned long size = 0;
	*out = NULL;
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, out, &size);
	c.image_width = w;
	c.image_height = h;
	int comps = 3;
	switch (cs) {
	case 0: comps = 1; c.in_color_space = JCS_GRAYSCALE; break;
	case 1: comps = 3; c.in_color_space = JCS_RGB; break;
	default: comps = 4; c.in_color_space = JCS_CMYK; break;
	}
	c.input_components = comps;
	jpeg_set_defaults(&c);
	if (cs == 2) jpeg_set_colorspace(&c, JCS_CMYK);
	if (cs == 3) jpeg_set_colorspace(&c, JCS_YCCK);
	jpeg_set_quality(&c, quality, TRUE);
	if (cs == 1) {
		c.comp_info[0].h_samp_factor = hsamp;
		c.comp_info[0].v_samp_factor = vsamp;
	}
	if (progressive) jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(pix + (size_t)c.next_scanline * w * comps);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return size;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ColorSpace selects how the samples are stored.
type ColorSpace int

// Stored colour spaces.
const (
	Gray  ColorSpace = iota // 1 sample per pixel
	YCbCr                   // RGB samples in, YCbCr stored
	CMYK                    // CMYK samples in, stored as CMYK with an Adobe marker
	YCCK                    // CMYK samples in, stored as YCCK with an Adobe marker
)

// Options for Encode.
type Options struct {
	Quality     int
	Progressive bool
	// HSamp, VSamp are the luma sampling factors for YCbCr (2,2 = 4:2:0;
	// 1,1 = 4:4:4). Zero means libjpeg's default (4:2:0).
	HSamp, VSamp int
}

// Encode compresses w*h pixels of interleaved samples.
func Encode(pix []byte, w, h int, cs ColorSpace, o Options) ([]byte, error) {
	comps := map[ColorSpace]int{Gray: 1, YCbCr: 3, CMYK: 4, YCCK: 4}[cs]
	if len(pix) != w*h*comps || w <= 0 || h <= 0 {
		return nil, fmt.Errorf("jpegenc: %d bytes for %dx%dx%d", len(pix), w, h, comps)
	}
	if o.Quality == 0 {
		o.Quality = 90
	}
	if o.HSamp == 0 || o.VSamp == 0 {
		o.HSamp, o.VSamp = 2, 2
	}
	prog := 0
	if o.Progressive {
		prog = 1
	}
	var out *C.uchar
	n := C.enc((*C.uchar)(unsafe.Pointer(&pix[0])), C.int(w), C.int(h), C.int(cs), C.int(o.Quality),
		C.int(prog), C.int(o.HSamp), C.int(o.VSamp), &out)
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}
