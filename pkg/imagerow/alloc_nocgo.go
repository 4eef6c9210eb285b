//go:build !cgo

package imagerow

// earlyAlloc is empty without cgo: the Go decoders build an image.Image
// first and call Options.Alloc only to convert it.
var earlyAlloc = map[string]bool{}
