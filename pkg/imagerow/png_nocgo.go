//go:build !cgo

package imagerow

import "context"

// PNGDecoder names the PNG implementation compiled in.
const PNGDecoder = "image/png"

// decodePNGLib is the C path of cgo builds; without cgo every PNG goes
// through image/png.
func decodePNGLib(ctx context.Context, origin string, data []byte, info pngInfo, nch int, opts Options) (Row, bool, error) {
	return Row{}, false, nil
}
