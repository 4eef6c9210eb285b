package wire

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Ticket is what a worker needs to serve one split, signed by the
// coordinator so that a worker serves only what was planned. Clients treat
// tickets as opaque bytes; only the resume suffix (ResumeTicket) is theirs
// to add.
//
// Wire form: base64url(payload) "." base64url(HMAC-SHA256(secret, the
// base64url payload)), where payload is uvarint(len(header)) header list:
// header is the JSON of the fields below and list the split's packed file
// list (PackSplitList), empty when the ticket refers to a plan the
// coordinator keeps.
type Ticket struct {
	Plan    string   `json:"plan"`  // plan id, for logs and by-reference lookups
	Split   int      `json:"split"` // split index
	Base    string   `json:"base"`  // URI of the requested path
	Columns []Column `json:"cols,omitempty"`
	Drop    bool     `json:"drop,omitempty"`
	Expires int64    `json:"exp"` // unix seconds
	// Transforms, Tensor and FastResize are the descriptor's, applied by
	// the worker (ParsePipeline).
	Transforms json.RawMessage `json:"tf,omitempty"`
	Tensor     json.RawMessage `json:"tensor,omitempty"`
	FastResize bool            `json:"fast,omitempty"`
	// Model is the descriptor's; ModelSize and ModelDigest ("sha256:<hex>")
	// are the model file's at planning: a worker runs only those bytes.
	Model       json.RawMessage `json:"model,omitempty"`
	ModelSize   int64           `json:"msize,omitempty"`
	ModelDigest string          `json:"mdigest,omitempty"`
	// HeaderOnly and FailureReasons are the descriptor's "pixels": false
	// and "failureReasons".
	HeaderOnly     bool `json:"hdr,omitempty"`
	FailureReasons bool `json:"why,omitempty"`
	Count          int  `json:"n"` // files in the split
	// Coordinator is set when the plan was too large for FlightInfo: the
	// worker fetches List from it (ActionSplit) instead of finding it here.
	Coordinator string `json:"coord,omitempty"`

	// Files and Dirs are the split's list (SplitList); empty in a
	// by-reference ticket until the worker fetched them.
	Files []TicketFile `json:"-"`
	Dirs  [][]*string  `json:"-"`
}

// List is the ticket's split list.
func (t *Ticket) List() SplitList { return SplitList{Files: t.Files, Dirs: t.Dirs} }

// Column is a partition column: name and inferred type ("int", "long",
// "double" or "string", as Spark infers them from folder names).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// SplitList is the files of one split in row order, with the partition
// values of their folders computed once per folder by the coordinator.
type SplitList struct {
	Files []TicketFile `json:"files"`
	// Dirs holds, per distinct folder, one value per Column (nil = null).
	Dirs [][]*string `json:"dirs,omitempty"`
}

// TicketFile is one file of a split.
type TicketFile struct {
	Rel  string `json:"p"`           // path relative to Ticket.Base
	Size int64  `json:"s"`           // bytes at planning time
	Dir  int    `json:"d,omitempty"` // index into SplitList.Dirs
}

// Errors a worker answers for tickets it will not serve.
var (
	ErrBadTicket     = &Error{Kind: KindInvalidArgument, Msg: "malformed ticket"}
	ErrBadSignature  = &Error{Kind: KindPermission, Msg: "ticket signature does not verify (not signed by this cluster's coordinator, or altered)"}
	ErrTicketExpired = &Error{Kind: KindExpired, Msg: "ticket expired"}
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

// Sign packs t's split list and signs t; see SignPacked.
func (s *Signer) Sign(t *Ticket) ([]byte, error) {
	if t.Coordinator != "" {
		return s.SignPacked(t, nil)
	}
	list, err := PackSplitList(t.List())
	if err != nil {
		return nil, err
	}
	h := *t
	h.Count = len(t.Files)
	return s.SignPacked(&h, list)
}

// SignPacked signs t with list, a split list packed once by PackSplitList
// (the coordinator packs each split once: the packed size decides between
// inline and by-reference tickets, and by-reference plans keep the packed
// form). t.Files and t.Dirs are ignored.
func (s *Signer) SignPacked(t *Ticket, list []byte) ([]byte, error) {
	header, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode ticket of split %d: %w", t.Split, err)
	}
	payload := binary.AppendUvarint(make([]byte, 0, 4+len(header)+len(list)), uint64(len(header)))
	payload = append(append(payload, header...), list...)
	enc := base64.RawURLEncoding
	out := make([]byte, enc.EncodedLen(len(payload)), enc.EncodedLen(len(payload))+1+enc.EncodedLen(sha256.Size))
	enc.Encode(out, payload)
	sig := s.mac(out)
	out = append(out, '.')
	return enc.AppendEncode(out, sig), nil
}

// TicketSize is the wire size of t signed with a packed list of listBytes,
// so a coordinator can choose between inline and by-reference tickets
// before signing any.
func TicketSize(t *Ticket, listBytes int) int {
	header, _ := json.Marshal(t)
	n := len(header) + listBytes
	return base64.RawURLEncoding.EncodedLen(binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(header)))+n) +
		1 + base64.RawURLEncoding.EncodedLen(sha256.Size)
}

// maxListJSON bounds a decompressed split list, so a hostile list cannot
// expand into unbounded memory.
const maxListJSON = 256 << 20

// Verify checks the signature and expiry of a DoGet ticket and decodes it,
// inline list included. skip is its resume position (ParseResume), at most
// the split's file count.
func (s *Signer) Verify(wire []byte, now time.Time) (t *Ticket, skip int, err error) {
	if wire, skip, err = ParseResume(wire); err != nil {
		return nil, 0, err
	}
	dot := bytes.LastIndexByte(wire, '.')
	if dot < 0 {
		return nil, 0, badTicket("no signature")
	}
	payload := wire[:dot]
	sig, err := base64.RawURLEncoding.DecodeString(string(wire[dot+1:]))
	if err != nil {
		return nil, 0, badTicket("signature: %v", err)
	}
	if !hmac.Equal(sig, s.mac(payload)) {
		return nil, 0, ErrBadSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(payload))
	if err != nil {
		return nil, 0, badTicket("payload: %v", err)
	}
	n, w := binary.Uvarint(raw)
	if w <= 0 || n > uint64(len(raw)-w) {
		return nil, 0, badTicket("header length")
	}
	t = new(Ticket)
	if err := json.Unmarshal(raw[w:w+int(n)], t); err != nil {
		return nil, 0, badTicket("header: %v", err)
	}
	if now.Unix() > t.Expires {
		return nil, 0, &Error{Kind: KindExpired, Err: ErrTicketExpired,
			Msg: fmt.Sprintf("%s at %s", ErrTicketExpired.Msg, time.Unix(t.Expires, 0).UTC().Format(time.RFC3339))}
	}
	if t.Coordinator == "" {
		l, err := UnpackSplitList(raw[w+int(n):], t.Count)
		if err != nil {
			return nil, 0, badTicket("%v", err)
		}
		t.Files, t.Dirs = l.Files, l.Dirs
	}
	if skip > t.Count {
		return nil, 0, badTicket("skip %d beyond the split's %d files", skip, t.Count)
	}
	return t, skip, nil
}

// badTicket is ErrBadTicket with a detail.
func badTicket(format string, args ...any) error {
	return &Error{Kind: KindInvalidArgument, Err: ErrBadTicket, Msg: ErrBadTicket.Msg + ": " + fmt.Sprintf(format, args...)}
}

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// PackSplitList encodes a split list as gzip-compressed JSON (paths under
// one folder compress well, so a packed list costs less than its path bytes).
func PackSplitList(l SplitList) ([]byte, error) {
	js, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	zw.Write(js)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnpackSplitList decodes what PackSplitList wrote, refusing to expand past
// maxListJSON and checking that it holds count files with valid folder
// indexes.
func UnpackSplitList(b []byte, count int) (SplitList, error) {
	var l SplitList
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return l, fmt.Errorf("split list: %w", err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxListJSON))
	if err != nil {
		return l, fmt.Errorf("split list: %w", err)
	}
	if err := json.Unmarshal(js, &l); err != nil {
		return l, fmt.Errorf("split list: %w", err)
	}
	if len(l.Files) != count {
		return l, fmt.Errorf("split list holds %d files, the ticket says %d", len(l.Files), count)
	}
	for _, f := range l.Files {
		if f.Dir < 0 || (f.Dir > 0 && f.Dir >= len(l.Dirs)) {
			return l, errors.New("split list: folder index out of range")
		}
	}
	return l, nil
}
