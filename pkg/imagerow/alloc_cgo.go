//go:build cgo

package imagerow

// earlyAlloc lists the formats whose cgo decoders call Options.Alloc right
// after parsing the header, before the pixels are decoded.
var earlyAlloc = map[string]bool{FormatJPEG: true, FormatPNG: true, FormatWebP: true}
