package imagerow

import (
	"encoding/binary"
	"image"
)

// tiffHasExtraSamples reports whether the first IFD carries an ExtraSamples
// tag (338). x/image/tiff decodes associated-alpha RGBA into *image.RGBA,
// the same type it uses for plain RGB, but Java's TIFF reader gives such a
// file an alpha colour model — 4 channels even when every pixel is opaque.
func tiffHasExtraSamples(data []byte) bool {
	if len(data) < 8 {
		return false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if data[0] == 'M' {
		bo = binary.BigEndian
	}
	off := int64(bo.Uint32(data[4:8]))
	if off+2 > int64(len(data)) {
		return false
	}
	n := int64(bo.Uint16(data[off : off+2]))
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(data)) {
			return false
		}
		if bo.Uint16(data[e:e+2]) == 338 {
			return true
		}
	}
	return false
}

// tiffChannels refines channelsForImage for TIFF files.
func tiffChannels(img image.Image, data []byte) int {
	nch := channelsForImage(img)
	switch img.(type) {
	case *image.RGBA, *image.RGBA64, *image.NRGBA, *image.NRGBA64:
		if tiffHasExtraSamples(data) {
			return 4
		}
	}
	return nch
}
