package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the ticket vectors in testdata/vectors.json")

// vectors mirrors testdata/vectors.json, shared with the Python client.
type vectors struct {
	Comment     string `json:"comment"`
	Descriptors []struct {
		Name     string          `json:"name"`
		Command  json.RawMessage `json:"command"`
		ErrorKey *string         `json:"error_key"`
		Parsed   *Descriptor     `json:"parsed,omitempty"`
		// ServerOnly marks stage parameters only the server validates.
		ServerOnly bool `json:"server_only,omitempty"`
	} `json:"descriptors"`
	NotJSON []string `json:"not_json"`
	Resume  []struct {
		Ticket string `json:"ticket"`
		Skip   int    `json:"skip"`
		Wire   string `json:"wire"`
	} `json:"resume"`
	BadResume []string `json:"bad_resume"`
	BatchMeta []struct {
		Raw  string `json:"raw"`
		Next int    `json:"next"`
	} `json:"batch_meta"`
	BadBatchMeta []string `json:"bad_batch_meta"`
	EndpointMeta []struct {
		Raw   string `json:"raw"`
		Files int    `json:"files"`
	} `json:"endpoint_meta"`
	BadEndpointMeta []string      `json:"bad_endpoint_meta"`
	Tickets         ticketVectors `json:"tickets"`
}

type ticketVectors struct {
	Secret string         `json:"secret"`
	Now    int64          `json:"now"`
	Cases  []ticketVector `json:"cases"`
}

type ticketVector struct {
	Name   string       `json:"name"`
	Wire   string       `json:"wire"`
	Kind   string       `json:"error_kind,omitempty"` // Kind.String(); "" = valid
	Skip   int          `json:"skip,omitempty"`
	Ticket *Ticket      `json:"ticket,omitempty"` // header fields
	Files  []TicketFile `json:"files,omitempty"`
	Dirs   [][]*string  `json:"dirs,omitempty"`
}

func loadVectors(t testing.TB) (vectors, []byte) {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v, raw
}

func TestVectorsDescriptors(t *testing.T) {
	v, _ := loadVectors(t)
	for _, tc := range v.Descriptors {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := ParseDescriptor(tc.Command)
			if tc.ErrorKey == nil {
				if err != nil || tc.Parsed == nil || !sameJSON(got, *tc.Parsed) {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.Parsed)
				}
				again, err := ParseDescriptor(got.Command())
				if err != nil || !sameJSON(again, got) {
					t.Fatalf("Command() does not round-trip: %+v, %v", again, err)
				}
				return
			}
			var de *DescriptorError
			if !errors.As(err, &de) || de.Key != *tc.ErrorKey || KindOf(err) != KindInvalidArgument {
				t.Fatalf("error %v (kind %v), want an invalid argument naming %q", err, KindOf(err), *tc.ErrorKey)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message not bounded: %d bytes", len(err.Error()))
			}
		})
	}
	for _, s := range v.NotJSON {
		var de *DescriptorError
		if _, err := ParseDescriptor([]byte(s)); !errors.As(err, &de) || de.Key != "" {
			t.Errorf("%q: error %v, want a descriptor error naming no key", s, err)
		}
	}
}

// sameJSON compares descriptors by their JSON (raw stage lists compact).
func sameJSON(a, b Descriptor) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestVectorsResumeAndMetadata(t *testing.T) {
	v, _ := loadVectors(t)
	for _, tc := range v.Resume {
		if got := string(ResumeTicket([]byte(tc.Ticket), tc.Skip)); got != tc.Wire {
			t.Errorf("ResumeTicket(%q, %d) = %q, want %q", tc.Ticket, tc.Skip, got, tc.Wire)
		}
		tk, skip, err := ParseResume([]byte(tc.Wire))
		if err != nil || string(tk) != tc.Ticket || skip != tc.Skip {
			t.Errorf("ParseResume(%q) = %q, %d, %v", tc.Wire, tk, skip, err)
		}
	}
	for _, w := range v.BadResume {
		if _, _, err := ParseResume([]byte(w)); !errors.Is(err, ErrBadTicket) || KindOf(err) != KindInvalidArgument {
			t.Errorf("ParseResume(%q) error %v, want a bad ticket", w, err)
		}
	}
	type count struct {
		raw  string
		want int
	}
	var batch, endpoint []count
	for _, tc := range v.BatchMeta {
		batch = append(batch, count{tc.Raw, tc.Next})
	}
	for _, tc := range v.EndpointMeta {
		endpoint = append(endpoint, count{tc.Raw, tc.Files})
	}
	for _, m := range []struct {
		name  string
		good  []count
		bad   []string
		parse func([]byte) (int, error)
		write func(int) []byte
	}{
		{"BatchMeta", batch, v.BadBatchMeta,
			func(b []byte) (int, error) { m, err := ParseBatchMeta(b); return m.Next, err },
			func(n int) []byte { return AppendBatchMeta(nil, BatchMeta{Next: n}) }},
		{"EndpointMeta", endpoint, v.BadEndpointMeta,
			func(b []byte) (int, error) { m, err := ParseEndpointMeta(b); return m.Files, err },
			func(n int) []byte { return AppendEndpointMeta(nil, EndpointMeta{Files: n}) }},
	} {
		if len(m.good) == 0 || len(m.bad) == 0 {
			t.Fatalf("no %s vectors", m.name)
		}
		for _, tc := range m.good {
			n, err := m.parse([]byte(tc.raw))
			if err != nil || n != tc.want {
				t.Errorf("Parse%s(%q) = %d, %v; want %d", m.name, tc.raw, n, err, tc.want)
			}
			if n2, err := m.parse(m.write(n)); err != nil || n2 != n {
				t.Errorf("Append%s does not round-trip %d", m.name, n)
			}
		}
		for _, raw := range m.bad {
			if _, err := m.parse([]byte(raw)); err == nil {
				t.Errorf("Parse%s(%q) accepted", m.name, raw)
			}
		}
	}
}

func TestVectorsTickets(t *testing.T) {
	v, raw := loadVectors(t)
	if *update {
		v.Tickets = makeTicketVectors(t)
		out, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, raw) {
			if err := os.WriteFile("testdata/vectors.json", append(out, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(v.Tickets.Cases) == 0 {
		t.Fatal("no ticket vectors; run go test ./pkg/wire -run TestVectors -update")
	}
	s := NewSigner([]byte(v.Tickets.Secret))
	now := time.Unix(v.Tickets.Now, 0)
	for _, tc := range v.Tickets.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, skip, err := s.Verify([]byte(tc.Wire), now)
			if tc.Kind != "" {
				if err == nil || KindOf(err).String() != tc.Kind {
					t.Fatalf("error %v (kind %v), want kind %q", err, KindOf(err), tc.Kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := *tc.Ticket
			want.Files, want.Dirs = tc.Files, tc.Dirs
			gotJS, _ := json.Marshal(struct {
				T *Ticket
				L SplitList
			}{got, got.List()})
			wantJS, _ := json.Marshal(struct {
				T *Ticket
				L SplitList
			}{&want, want.List()})
			if skip != tc.Skip || !bytes.Equal(gotJS, wantJS) {
				t.Fatalf("got %s skip %d, want %s skip %d", gotJS, skip, wantJS, tc.Skip)
			}
		})
	}
}

// makeTicketVectors signs the ticket vectors; only -update calls it, since
// gzip's output may change between Go releases while staying decodable.
func makeTicketVectors(t *testing.T) ticketVectors {
	tv := ticketVectors{Secret: "vector secret, 32 bytes or more!", Now: 1_700_000_000}
	s := NewSigner([]byte(tv.Secret))
	cat, dog := "cat", "dog"
	inline := &Ticket{Plan: "p1", Split: 2, Base: "file:/data/pets", Columns: []Column{{Name: "cls", Type: "string"}},
		Expires: tv.Now + 3600, Files: []TicketFile{{Rel: "cls=cat/1.jpg", Size: 10}, {Rel: "cls=dog/2.png", Size: 20, Dir: 1}},
		Dirs: [][]*string{{&cat}, {&dog}}}
	byRef := &Ticket{Plan: "p2", Split: 0, Base: "hdfs://nn:8020/big", Expires: tv.Now + 3600, Coordinator: "grpc://10.0.0.1:8815", Count: 5000, Drop: true}
	expired := &Ticket{Plan: "p3", Base: "file:/d", Expires: tv.Now - 1, Files: []TicketFile{{Rel: "a.jpg", Size: 1}}}
	headers := &Ticket{Plan: "p4", Base: "file:/d", Expires: tv.Now + 3600, HeaderOnly: true, FailureReasons: true,
		Files: []TicketFile{{Rel: "a.jpg", Size: 1}}}
	sign := func(tk *Ticket) string {
		w, err := s.Sign(tk)
		if err != nil {
			t.Fatal(err)
		}
		return string(w)
	}
	header := func(tk *Ticket) *Ticket {
		h := *tk
		h.Files, h.Dirs = nil, nil
		if h.Coordinator == "" {
			h.Count = len(tk.Files)
		}
		return &h
	}
	in, ref, hdr := sign(inline), sign(byRef), sign(headers)
	flipped := []byte(in)
	flipped[7] ^= 1
	other, err := NewSigner([]byte("another cluster's secret")).Sign(inline)
	if err != nil {
		t.Fatal(err)
	}
	tv.Cases = []ticketVector{
		{Name: "inline with partition folders", Wire: in, Ticket: header(inline), Files: inline.Files, Dirs: inline.Dirs},
		{Name: "inline resumed", Wire: string(ResumeTicket([]byte(in), 1)), Skip: 1, Ticket: header(inline), Files: inline.Files, Dirs: inline.Dirs},
		{Name: "inline resumed at its end", Wire: string(ResumeTicket([]byte(in), 2)), Skip: 2, Ticket: header(inline), Files: inline.Files, Dirs: inline.Dirs},
		{Name: "by reference", Wire: ref, Ticket: header(byRef)},
		{Name: "header-only with failure reasons", Wire: hdr, Ticket: header(headers), Files: headers.Files},
		{Name: "resumed past the split's end", Wire: string(ResumeTicket([]byte(in), 3)), Kind: KindInvalidArgument.String()},
		{Name: "one bit flipped", Wire: string(flipped), Kind: KindPermission.String()},
		{Name: "signed by another cluster", Wire: string(other), Kind: KindPermission.String()},
		{Name: "expired", Wire: sign(expired), Kind: KindExpired.String()},
		{Name: "garbage", Wire: "hello", Kind: KindInvalidArgument.String()},
	}
	return tv
}

// TestModelsDocExample: the descriptor docs/models.md shows is valid.
func TestModelsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/models.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(doc, []byte("```json\n"))
	block, _, ok2 := bytes.Cut(rest, []byte("```"))
	if !ok || !ok2 {
		t.Fatal("docs/models.md has no json block")
	}
	d, err := ParseDescriptor(block)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Pipeline()
	if err != nil || p.Model == nil || p.Model.MiniBatch != 32 || !p.HeaderOnly {
		t.Fatalf("pipeline %+v, %v", p, err)
	}
}
