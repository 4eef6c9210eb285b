package imagerow

import "encoding/binary"

// jpegScans counts the SOS markers in a JPEG stream, stopping at limit. It
// follows the marker segments by their lengths and skips entropy-coded
// data byte by byte (0xFF00 stuffing and RSTn stay inside a scan), so it
// never decodes anything. Malformed streams just end the count early: the
// decoder reports those.
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
		seg := int(binary.BigEndian.Uint16(data[i+2:]))
		if m == 0xDA {
			n++
		}
		i += 2 + seg
	}
	return n
}
