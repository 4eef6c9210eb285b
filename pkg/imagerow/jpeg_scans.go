package imagerow

import (
	"bytes"
	"encoding/binary"
)

// jpegScans counts the SOS markers in a JPEG stream, stopping at limit. It
// follows the marker segments by their lengths and skips entropy-coded
// data (entropyEnd), so it never decodes anything. Malformed streams just
// end the count early: the decoder reports those.
func jpegScans(data []byte, limit int) int {
	n := 0
	i := 2 // after SOI
	for i+4 <= len(data) && n < limit {
		if data[i] != 0xFF {
			i++ // entropy-coded data (or garbage) between segments
			continue
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01:
			i += 2 // stuffed 0xFF, RSTn, TEM: no length
			continue
		case m == 0xD9: // EOI
			return n
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
		if m == 0xDA {
			n++
			if i = entropyEnd(data, i); i < 0 {
				return n
			}
		}
	}
	return n
}

// entropyEnd is the index of the marker that ends the entropy-coded data
// starting at i — the first 0xFF that is not a stuffed 0xFF00 or a RSTn —
// or -1 when the data ends first.
func entropyEnd(data []byte, i int) int {
	for i < len(data) {
		k := bytes.IndexByte(data[i:], 0xFF)
		if k < 0 || i+k+1 >= len(data) {
			return -1
		}
		i += k
		if n := data[i+1]; n != 0x00 && (n < 0xD0 || n > 0xD7) {
			return i
		}
		i += 2
	}
	return -1
}

// jpegDCScans returns a copy of a progressive JPEG stream without the AC
// scans (spectral start Ss > 0) of the components dcOnly names: every
// marker segment and every other scan, in their order. A component that
// libjpeg decodes with a 1×1 inverse DCT (at 1/8 scale, unless it is
// subsampled and scaled up by a larger IDCT) reads only each block's DC
// coefficient, so this stream gives the same pixels as the whole file while
// the entropy decoding of those AC scans — most of a progressive file's
// bytes and decode time — is skipped. ok is false unless the walk reaches
// EOI through well-formed segments: anything else (a truncated file,
// garbage) is left to the decoder on the whole stream, which reports it as
// before.
func jpegDCScans(data []byte, dcOnly func(component byte) bool) (dc []byte, ok bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	out := make([]byte, 0, len(data)/2)
	out = append(out, data[:2]...)
	i := 2
	for i+2 <= len(data) {
		if data[i] != 0xFF {
			return nil, false // segments follow each other; scan data is consumed below
		}
		m := data[i+1]
		switch {
		case m == 0xFF:
			i++
			continue
		case m == 0xD9:
			return append(out, 0xFF, 0xD9), true
		case m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			return nil, false // stuffing, TEM or RSTn outside a scan
		}
		if i+4 > len(data) {
			return nil, false
		}
		end := i + 2 + int(binary.BigEndian.Uint16(data[i+2:]))
		if end > len(data) || end < i+4 {
			return nil, false
		}
		if m != 0xDA {
			out = append(out, data[i:end]...)
			i = end
			continue
		}
		// SOS: Ns, Ns component selectors, Ss, Se, Ah/Al; then entropy-coded data.
		if end < i+2+8 {
			return nil, false // shorter than an SOS with one component
		}
		ns := int(data[i+4])
		if end != i+2+6+2*ns {
			return nil, false
		}
		// AC scans have one component (T.81 G.1.1.1.1); DC scans may interleave.
		skip := ns == 1 && data[end-3] > 0 && dcOnly(data[i+5])
		scanEnd := entropyEnd(data, end)
		if scanEnd < 0 {
			return nil, false // no EOI: truncated
		}
		if !skip {
			out = append(out, data[i:scanEnd]...)
		}
		i = scanEnd
	}
	return nil, false
}
