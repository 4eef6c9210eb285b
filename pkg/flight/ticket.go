package flight

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/imageflight/imageflight/pkg/plan"
)

// Ticket is what a worker needs to serve one split, signed by the
// coordinator so a worker serves only what was planned.
//
// Wire form: base64url(gzip(JSON)) "." base64url(HMAC-SHA256). A client
// resuming a split on another location appends ";skip=N" (N rows already
// received, from the "next" field of the last batch's app_metadata); the
// suffix is outside the signature because skipping rows grants nothing.
type Ticket struct {
	Plan    string        `json:"plan"`  // plan id, for logs
	Split   int           `json:"split"` // split index
	Base    string        `json:"base"`  // URI of the requested path
	Files   []TicketFile  `json:"files"` // paths relative to Base, in row order
	Columns []plan.Column `json:"cols,omitempty"`
	Drop    bool          `json:"drop,omitempty"`
	Expires int64         `json:"exp"` // unix seconds
	// A plan too large for FlightInfo leaves Files out: the worker fetches
	// them from Coordinator (the split action) and Count says how many.
	Coordinator string `json:"coord,omitempty"`
	Count       int    `json:"n,omitempty"`
}

// Len is the number of files in the split.
func (t *Ticket) Len() int {
	if t.Files == nil {
		return t.Count
	}
	return len(t.Files)
}

// TicketFile is one file of a split.
type TicketFile struct {
	Rel  string `json:"p"`
	Size int64  `json:"s"`
}

// Errors a worker returns for tickets it will not serve.
var (
	ErrBadTicket     = errors.New("malformed ticket")
	ErrBadSignature  = errors.New("ticket signature does not verify (not signed by this cluster's coordinator, or altered)")
	ErrTicketExpired = errors.New("ticket expired")
)

// Signer signs and verifies tickets with the cluster secret.
type Signer struct{ key []byte }

// NewSigner returns a signer for the cluster secret.
func NewSigner(secret []byte) *Signer { return &Signer{key: secret} }

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

// Sign encodes and signs t.
func (s *Signer) Sign(t *Ticket) ([]byte, error) {
	packed, err := pack(t)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(packed)
	out := make([]byte, 0, len(payload)+64)
	out = append(out, payload...)
	out = append(out, '.')
	out = append(out, enc.EncodeToString(s.mac([]byte(payload)))...)
	return out, nil
}

// maxTicketJSON bounds the decompressed ticket, so a hostile ticket cannot
// expand into unbounded memory before its signature is checked.
const maxTicketJSON = 256 << 20

// Verify checks the signature and expiry of wire and decodes it. skip is
// the resume offset (0 when absent).
func (s *Signer) Verify(wire []byte, now time.Time) (t *Ticket, skip int, err error) {
	if i := bytes.LastIndex(wire, []byte(";skip=")); i >= 0 {
		n, perr := strconv.Atoi(string(wire[i+len(";skip="):]))
		if perr != nil || n < 0 {
			return nil, 0, fmt.Errorf("%w: bad skip suffix", ErrBadTicket)
		}
		skip, wire = n, wire[:i]
	}
	dot := bytes.LastIndexByte(wire, '.')
	if dot < 0 {
		return nil, 0, ErrBadTicket
	}
	payload := wire[:dot]
	sig, err := base64.RawURLEncoding.DecodeString(string(wire[dot+1:]))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadTicket, err)
	}
	if !hmac.Equal(sig, s.mac(payload)) {
		return nil, 0, ErrBadSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(payload))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadTicket, err)
	}
	t = new(Ticket)
	if err := unpack(raw, t); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadTicket, err)
	}
	if now.Unix() > t.Expires {
		return nil, 0, fmt.Errorf("%w at %s", ErrTicketExpired, time.Unix(t.Expires, 0).UTC().Format(time.RFC3339))
	}
	if skip > t.Len() {
		return nil, 0, fmt.Errorf("%w: skip %d beyond the split's %d files", ErrBadTicket, skip, t.Len())
	}
	return t, skip, nil
}

// Unsuffixed strips a resume suffix, giving the ticket as signed.
func Unsuffixed(wire []byte) []byte {
	if i := bytes.LastIndex(wire, []byte(";skip=")); i >= 0 {
		return wire[:i]
	}
	return wire
}

// pack encodes v as gzip-compressed JSON (paths compress well).
func pack(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(js)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unpack decodes what pack wrote, refusing to expand past maxTicketJSON.
func unpack(b []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxTicketJSON))
	if err != nil {
		return err
	}
	return json.Unmarshal(js, v)
}
