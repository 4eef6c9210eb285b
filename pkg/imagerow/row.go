// Package imagerow turns encoded image bytes into rows of Apache Spark's image
// schema (origin, height, width, nChannels, mode, data) following Spark's
// decode rules exactly: channel choice, BGR/BGRA byte order, OpenCV mode
// codes and the shape of the invalid row. Workers call Decode (or
// DecodeContext, to stop a decode when its stream is cancelled) for every
// file they serve; the Arrow form of the schema lives here too so that
// every producer and consumer agrees on it.
//
// With cgo, JPEG goes through libjpeg-turbo, WebP through libwebp and PNG
// through a zlib-based C path (png_cgo.go) that is byte- and error-
// identical to image/png; CGO_ENABLED=0 builds use image/jpeg, x/image/webp
// and image/png. Hostile files are bounded: at most MaxJPEGScans scans, PNG
// IDAT data at most ~1.25x the pixels' size plus 1 MiB, nothing inflated
// past the last PNG row (ErrDecodeLimit).
package imagerow

// OpenCV type codes Spark writes into the mode field.
const (
	ModeUndefined int32 = -1
	ModeCV8UC1    int32 = 0
	ModeCV8UC3    int32 = 16
	ModeCV8UC4    int32 = 24
)

// Row is one image in Spark's layout: data holds height*width*nChannels bytes,
// row-major, channels in B, G, R(, A) order.
type Row struct {
	Origin    string
	Height    int32
	Width     int32
	NChannels int32
	Mode      int32
	Data      []byte
}

// Valid reports whether r holds pixels rather than Spark's invalid-row marker.
func (r *Row) Valid() bool { return r.Height >= 0 }

// Invalid is Spark's row for an undecodable file.
func Invalid(origin string) Row {
	return Row{Origin: origin, Height: -1, Width: -1, NChannels: -1, Mode: ModeUndefined, Data: []byte{}}
}
