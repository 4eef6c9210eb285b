package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// BatchMeta is the app_metadata of every record batch a worker sends.
// Next is the split position after the batch: how many of the split's
// files (Ticket.Count) have been consumed, counting files that produced no
// row (dropped by dropImageFailures). A client that loses the stream
// resumes on another location with ResumeTicket(ticket, Next).
type BatchMeta struct {
	Next int `json:"next"`
}

// AppendBatchMeta appends m's JSON to dst, without reflection: it goes on
// every batch.
func AppendBatchMeta(dst []byte, m BatchMeta) []byte {
	return appendCount(dst, "next", m.Next)
}

// ParseBatchMeta reads a batch's app_metadata.
func ParseBatchMeta(b []byte) (BatchMeta, error) {
	n, err := parseCount(b, "next", "batch app_metadata", "resume position")
	return BatchMeta{Next: n}, err
}

// EndpointMeta is the app_metadata of every endpoint of a FlightInfo.
// Files is the split's planned file count (Ticket.Count): a client sizes
// each endpoint's share of a read before streaming it (the PyTorch
// dataset's equal shards). Endpoints from older coordinators carry none.
type EndpointMeta struct {
	Files int `json:"files"`
}

// AppendEndpointMeta appends m's JSON to dst.
func AppendEndpointMeta(dst []byte, m EndpointMeta) []byte {
	return appendCount(dst, "files", m.Files)
}

// ParseEndpointMeta reads an endpoint's app_metadata.
func ParseEndpointMeta(b []byte) (EndpointMeta, error) {
	n, err := parseCount(b, "files", "endpoint app_metadata", "file count")
	return EndpointMeta{Files: n}, err
}

// appendCount appends the JSON object {"key":n}.
func appendCount(dst []byte, key string, n int) []byte {
	dst = append(append(append(dst, `{"`...), key...), `":`...)
	return append(strconv.AppendInt(dst, int64(n), 10), '}')
}

// parseCount reads the non-negative integer under key of a JSON object
// (other keys ignored: later servers may add some).
func parseCount(b []byte, key, what, meaning string) (int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("%s %q: %w", what, truncate(b, 64), err)
	}
	var n int
	if raw, ok := m[key]; !ok || string(raw) == "null" || json.Unmarshal(raw, &n) != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: no %s (%q ≥ 0)", what, truncate(b, 64), meaning, key)
	}
	return n, nil
}

// resumeSep starts the resume suffix. It cannot occur in a signed ticket
// (base64url and one '.'), so the last occurrence is the suffix.
const resumeSep = ";skip="

// ResumeTicket returns ticket with a resume suffix: the stream restarts at
// split position skip (the Next of the last batch received), so no row is
// sent twice. skip 0 returns ticket unchanged. The suffix is outside the
// signature: skipping files grants nothing.
func ResumeTicket(ticket []byte, skip int) []byte {
	if skip <= 0 {
		return ticket
	}
	return strconv.AppendInt(append(append(make([]byte, 0, len(ticket)+len(resumeSep)+10), ticket...), resumeSep...), int64(skip), 10)
}

// ParseResume splits a DoGet ticket into the ticket as signed and the
// resume position (0 without a suffix). The position must be a decimal
// count in [0, 2^31) written as ResumeTicket writes it: no sign, spaces
// or leading zeros, so one position has one spelling.
func ParseResume(wire []byte) (ticket []byte, skip int, err error) {
	i := bytes.LastIndex(wire, []byte(resumeSep))
	if i < 0 {
		return wire, 0, nil
	}
	digits := wire[i+len(resumeSep):]
	n, perr := strconv.ParseInt(string(digits), 10, 32)
	if perr != nil || n < 0 || len(digits) == 0 || digits[0] < '0' || digits[0] > '9' || (digits[0] == '0' && len(digits) > 1) {
		return nil, 0, badTicket("bad resume suffix %q", truncate(digits, 32))
	}
	return wire[:i], int(n), nil
}

// truncate bounds what an error echoes of client input.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
