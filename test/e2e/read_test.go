package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// got is one row as read back, with its partition values.
type got struct {
	row   imagerow.Row
	parts map[string]string
}

// readAll plans req on the coordinator at coord (plaintext, no auth) and
// reads every row, sorted by origin.
func readAll(t *testing.T, coord string, req map[string]any) (*aflight.FlightInfo, []got, *arrow.Schema) {
	t.Helper()
	return readWith(t, client.DefaultConfig(coord), req)
}

// readWith is readAll with a client configuration (TLS, credentials).
func readWith(t *testing.T, cfg client.Config, req map[string]any) (*aflight.FlightInfo, []got, *arrow.Schema) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, _ := json.Marshal(req)
	cl := client.New(cfg)
	defer cl.Close()
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatalf("plan %s: %v", cmd, err)
	}
	var (
		mu     sync.Mutex
		rows   []got
		schema *arrow.Schema
	)
	_, err = cl.ReadAll(ctx, info, func(b client.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		schema = b.Record.Schema()
		rows = append(rows, rowsOf(b)...)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	sortRows(rows)
	return info, rows, schema
}

// rowsOf copies a batch's rows out (the batch is only valid in the
// callback).
func rowsOf(b client.Batch) []got {
	var rows []got
	img := b.Record.Column(0).(*array.Struct)
	for i := 0; i < int(b.Record.NumRows()); i++ {
		r := imagerow.At(img, i)
		r.Data = bytes.Clone(r.Data)
		g := got{row: r, parts: map[string]string{}}
		for c := 1; c < int(b.Record.NumCols()); c++ {
			if b.Record.Column(c).IsValid(i) {
				g.parts[b.Record.ColumnName(c)] = b.Record.Column(c).ValueStr(i)
			}
		}
		rows = append(rows, g)
	}
	return rows
}

func sortRows(rows []got) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].row.Origin < rows[j].row.Origin })
}

func TestReadCorpusAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 2, dir)

	for _, drop := range []bool{false, true} {
		info, rows, schema := readAll(t, c.location(), map[string]any{
			"path": dir, "recursive": true, "numPartitions": 4, "sampleRatio": 1.0, "seed": 0, "dropImageFailures": drop})
		if n := len(info.GetEndpoint()); n != 4 {
			t.Errorf("drop=%v: %d endpoints, want 4", drop, n)
		}
		for i, ep := range info.GetEndpoint() {
			if len(ep.GetLocation()) != 2 {
				t.Errorf("endpoint %d lists %d locations, want both workers", i, len(ep.GetLocation()))
			}
		}
		if f := schema.Field(0); f.Name != "image" || !arrow.TypeEqual(f.Type, imagerow.ImageType) {
			t.Errorf("first column %v, want Spark's image struct", f)
		}
		want := map[string]corpus.Entry{}
		for _, e := range entries {
			if drop && e.Format == "broken" {
				continue
			}
			want["file:"+dir+"/"+e.Rel] = e
		}
		checkRows(t, rows, want)
	}
}

// checkRows compares rows with the corpus entries expected, keyed by origin:
// shape, mode, exact pixels of lossless files, partition values.
func checkRows(t *testing.T, rows []got, want map[string]corpus.Entry) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for _, g := range rows {
		e, ok := want[g.row.Origin]
		if !ok {
			t.Errorf("unexpected row %s", g.row.Origin)
			continue
		}
		r := g.row
		if r.Height != e.Height || r.Width != e.Width || r.NChannels != e.NChannels || r.Mode != e.Mode {
			t.Errorf("%s: got %dx%dx%d mode %d, want %dx%dx%d mode %d", e.Rel, r.Height, r.Width, r.NChannels, r.Mode,
				e.Height, e.Width, e.NChannels, e.Mode)
		}
		if r.Height >= 0 && int(r.Height)*int(r.Width)*int(r.NChannels) != len(r.Data) {
			t.Errorf("%s: %d data bytes for %dx%dx%d", e.Rel, len(r.Data), r.Height, r.Width, r.NChannels)
		}
		if e.Data != nil && !bytes.Equal(r.Data, e.Data) {
			t.Errorf("%s: pixels differ from the encoded source", e.Rel)
		}
		for k, v := range corpusPartitions(e.Rel) {
			if g.parts[k] != v {
				t.Errorf("%s: partition %s=%q, want %q", e.Rel, k, g.parts[k], v)
			}
		}
	}
}

// corpusPartitions parses key=value folders of a corpus path independently
// of the code under test.
func corpusPartitions(rel string) map[string]string {
	out := map[string]string{}
	segs := bytes.Split([]byte(rel), []byte("/"))
	for _, s := range segs[:len(segs)-1] {
		if k, v, ok := bytes.Cut(s, []byte("=")); ok {
			out[string(k)] = string(v)
		}
	}
	return out
}

func TestDescriptorErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, dir)
	cl := client.New(client.DefaultConfig(c.location()))
	defer cl.Close()
	tests := []struct {
		name string
		cmd  string
		code codes.Code
		says string
	}{
		{"unknown key", `{"path": "` + dir + `", "recursiv": true}`, codes.InvalidArgument, "recursiv"},
		{"ratio", `{"path": "` + dir + `", "sampleRatio": 1.5}`, codes.InvalidArgument, "sampleRatio"},
		{"partitions", `{"path": "` + dir + `", "numPartitions": -2}`, codes.InvalidArgument, "numPartitions"},
		{"no path", `{"recursive": true}`, codes.InvalidArgument, "path"},
		{"relative path", `{"path": "images"}`, codes.InvalidArgument, `key "path": "images" is relative`},
		{"not json", `images please`, codes.InvalidArgument, "JSON"},
		{"outside roots", `{"path": "/etc"}`, codes.PermissionDenied, "/etc"},
		{"escape", `{"path": "` + dir + `/../.."}`, codes.PermissionDenied, "outside"},
		{"missing", `{"path": "` + dir + `/nope"}`, codes.NotFound, dir + "/nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := cl.Plan(ctx, []byte(tc.cmd))
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !bytes.Contains([]byte(st.Message()), []byte(tc.says)) {
				t.Errorf("got %v, want %v naming %q", err, tc.code, tc.says)
			}
		})
	}
}

func TestWorkerRefusesForgedTickets(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := client.New(client.DefaultConfig(c.location()))
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true, "numPartitions": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	good := info.GetEndpoint()[0]
	tamper := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)/3] ^= 1
		return b
	}
	tests := []struct {
		name   string
		ticket []byte
		code   codes.Code
	}{
		{"altered", tamper(good.GetTicket().GetTicket()), codes.PermissionDenied},
		{"unsigned", []byte(`{"base": "file:/etc", "files": [{"p": "passwd"}]}`), codes.InvalidArgument},
		{"empty", nil, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &aflight.FlightEndpoint{Ticket: &aflight.Ticket{Ticket: tc.ticket}, Location: good.GetLocation()[:1]}
			_, err := cl.ReadEndpoint(ctx, 0, ep, func(client.Batch) error { return nil })
			if !containsCode(err, tc.code) {
				t.Errorf("got %v, want %v", err, tc.code)
			}
		})
	}
}

func containsCode(err error, code codes.Code) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("code = "+code.String()))
}
