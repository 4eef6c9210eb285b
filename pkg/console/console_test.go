package console

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
)

const hostile = `<img src=x onerror=alert(1)>.jpg`

// pngOf encodes a w×h gradient.
func pngOf(t testing.TB, w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tree is a labelled folder: 5 cats, 3 dogs, a hostile-named broken file
// among the cats, hidden files that must not count.
func tree(t testing.TB) *memfs.FS {
	files := map[string][]byte{
		"/data/cls=cat/" + hostile: []byte("not an image"),
		"/data/.hidden/x.png":      pngOf(t, 8, 8),
		"/data/_SUCCESS":           nil,
	}
	for i, n := range []string{"a", "b", "c", "d", "e"} {
		files["/data/cls=cat/"+n+".png"] = pngOf(t, 40+i*100, 30+i*10)
	}
	for _, n := range []string{"f", "g", "h"} {
		files["/data/cls=dog/"+n+".png"] = pngOf(t, 300, 200)
	}
	return memfs.New(files)
}

type storage struct{ fs hdfsio.FileSystem }

func (s storage) For(context.Context, hdfsio.Location) (hdfsio.FileSystem, error) { return s.fs, nil }

// localThumbs decodes and shrinks in process with the workers' own code
// (imagerow, pkg/transform), reading through the same file system.
type localThumbs struct{ fs hdfsio.FileSystem }

func (l localThumbs) Thumbnails(ctx context.Context, files []string, size int) ([]Thumb, error) {
	stages, err := stage.Parse(ThumbnailStages(size))
	if err != nil {
		return nil, err
	}
	var out []Thumb
	for _, f := range files {
		name := strings.TrimPrefix(f, "mem:")
		data, _, err := readPrefix(ctx, l.fs, name, 1<<24)
		if err != nil {
			return nil, err
		}
		th := Thumb{Origin: f}
		row, err := imagerow.Decode(f, data, imagerow.DefaultOptions())
		if err == nil {
			row, err = transform.ApplyRow(stages, row)
		}
		if err == nil {
			th.Image, err = RowImage(row)
		}
		if err != nil {
			th.Failure = err.Error()
		}
		out = append(out, th)
	}
	return out, nil
}

type cluster wire.ClusterStatus

func (c cluster) ClusterStatusDetail(context.Context) wire.ClusterStatus {
	return wire.ClusterStatus(c)
}

type plans []Plan

func (p plans) RecentPlans() []Plan { return p }

func newTestConsole(t *testing.T, cfg Config, st wire.ClusterStatus, ps []Plan) (*httptest.Server, *memfs.FS) {
	fsys := tree(t)
	roots, err := hdfsio.ParseRoots([]string{"/data"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Deps{Cluster: cluster(st), Plans: plans(ps), Storage: storage{fsys}, Roots: roots, Thumbs: localThumbs{fsys}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv, fsys
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: Content-Security-Policy %q", u, csp)
	}
	return res.StatusCode, b.String()
}

func TestBrowse(t *testing.T) {
	srv, _ := newTestConsole(t, DefaultConfig(), wire.ClusterStatus{}, nil)
	code, body := get(t, srv.URL+"/browse?path="+url.QueryEscape("/data"))
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if strings.Contains(body, "<img src=x") {
		t.Fatal("the hostile file name reached the page as markup")
	}
	escaped := "&lt;img src=x onerror=alert(1)&gt;.jpg"
	if !regexp.MustCompile(`class="broken-name">cls=cat/` + regexp.QuoteMeta(escaped) + `<`).MatchString(body) {
		t.Errorf("broken file not listed by its escaped name:\n%s", body)
	}
	for _, want := range []string{
		"9 files",                // 5 cats + hostile + 3 dogs; hidden ones skipped
		"<h2>Partition cls</h2>", // the label balance
		`<td>cat</td><td class="num">6</td><td class="bar"><meter min="0" max="100" value="100">`,
		`<td>dog</td><td class="num">3</td><td class="bar"><meter min="0" max="100" value="50">`,
		`<td>png</td><td class="num">8</td>`,            // formats by extension
		"headers of 8 sampled files",                    // every readable header
		`href="/browse?path=mem%3a%2fdata%2fcls%3dcat"`, // a sub-folder, its URI escaped
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Every thumbnail is a JPEG data URI that decodes at the thumbnail size.
	alts := regexp.MustCompile(`<img src="data:image/jpeg;base64,[^"]+" width="96" height="96" alt="[^"]*"`).FindAllString(body, -1)
	thumbs, err := PageThumbnails(body)
	if err != nil || len(thumbs) != 8 || len(alts) != 8 {
		t.Fatalf("%d thumbnails (%d at 96x96), want 8 (6 cats less the broken one, 3 dogs): %v", len(thumbs), len(alts), err)
	}
	for _, m := range thumbs {
		if b := m.Bounds(); b.Dx() != 96 || b.Dy() != 96 {
			t.Errorf("thumbnail is %v, want 96x96", b)
		}
	}
	// The broken file's decode failure is listed too, with the decoder's reason.
	if !strings.Contains(body, "decode: ") {
		t.Error("the thumbnail read's failure is not listed")
	}
}

func TestBrowseRefusals(t *testing.T) {
	srv, _ := newTestConsole(t, DefaultConfig(), wire.ClusterStatus{}, nil)
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/etc", http.StatusForbidden},
		{"/data/../etc", http.StatusForbidden},
		{"/data/missing", http.StatusNotFound},
		{"hdfs://nn:8020/data", http.StatusForbidden},
		{"/data/cls=dog/f.png", http.StatusBadRequest},
	} {
		code, body := get(t, srv.URL+"/browse?path="+url.QueryEscape(tc.path))
		if code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.path, code, tc.code, body)
		}
	}
	res, err := http.Post(srv.URL+"/browse?path=/data", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST answered %d: the console is read-only", res.StatusCode)
	}
}

func TestBrowseTruncated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scan.MaxEntries = 4
	srv, _ := newTestConsole(t, cfg, wire.ClusterStatus{}, nil)
	code, body := get(t, srv.URL+"/browse?path=/data")
	if code != http.StatusOK || !strings.Contains(body, "the listing stopped at 4 entries") {
		t.Fatalf("status %d, no truncation note:\n%s", code, body)
	}
	// Root entries first (cls=cat, cls=dog: 2), then cls=cat's first two: cls=dog is
	// never reached, cls=cat only partly.
	for _, want := range []string{"2 of 2 sub-folders were not listed completely", `cls=cat</a></td><td class="num">2 <span class="bad">(partly listed)</span>`,
		`cls=dog</a></td><td class="num">0 <span class="bad">(not listed)</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestClusterPage(t *testing.T) {
	w := &wire.WorkerStatus{Active: 2, Images: map[string]int64{"ok": 10, "invalid": 1}, BytesRead: 5e6,
		Streams: map[string]int64{"OK": 4, "DeadlineExceeded": 1}, SendTimeouts: 1, BudgetUsed: 1 << 20, BudgetLimit: 1 << 30,
		Failures: []wire.FileFailure{{Origin: "file:/a.jpg", Reason: "jpeg: bad Huffman code"}, {Origin: "file:/b.jpg", Reason: "jpeg: bad Huffman code"},
			{Origin: "file:/c.png", Reason: "imagerow: unknown image format"}}}
	st := wire.ClusterStatus{Coordinator: "coord", Members: []wire.MemberStatus{
		{Name: "coord", Role: "coordinator", Location: "grpc://127.0.0.1:1", State: "alive", Active: -1},
		{Name: "w-" + hostile, Role: "worker", Location: "grpc://127.0.0.1:2", State: "alive", Capacity: 4, Active: 2, Worker: w},
		{Name: "w2", Role: "worker", Location: "grpc://127.0.0.1:3", State: "unreachable", Reason: "probes fail", Active: -1},
	}}
	srv, _ := newTestConsole(t, DefaultConfig(), st, nil)
	code, body := get(t, srv.URL+"/cluster")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		"w-&lt;img src=x onerror=alert(1)&gt;.jpg",
		"unreachable: probes fail",
		"1.0 MiB of 1.0 GiB",
		"10 / 1 / ", // ok / invalid / dropped
		"DeadlineExceeded: 1",
		"2 × jpeg: bad Huffman code<br>1 × imagerow: unknown image format", // failures by reason, commonest first
		"no worker-status answer",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("cluster page lacks %q", want)
		}
	}
	if strings.Contains(body, "<img src=x") {
		t.Fatal("a member name reached the page as markup")
	}
	// The second look has a rate: the counters did not move, so 0.0.
	_, body = get(t, srv.URL+"/cluster")
	if !strings.Contains(body, `<td class="num">0</td>`) {
		t.Error("no rate on the second look")
	}
}

func TestReadsPage(t *testing.T) {
	ps := []Plan{
		{ID: "abc123", At: time.Now(), Descriptor: `{"path": "/data/` + hostile + `"}`, Path: "file:/data", Files: 5, Bytes: 2048,
			Splits: []Split{{Files: 3, Bytes: 1024, Locations: []string{"w1", "w2"}}, {Files: 2, Bytes: 1024, Locations: []string{"w2"}}}},
		{ID: "", At: time.Now(), Descriptor: `{"path": "/nope"}`, Err: "file:/nope does not exist"},
	}
	now := time.Now()
	st := wire.ClusterStatus{Members: []wire.MemberStatus{
		{Name: "w1", Role: "worker", State: "alive", Active: 0, Worker: &wire.WorkerStatus{
			Recent:   []wire.StreamStatus{{Plan: "abc123", Split: 0, Files: 3, Done: 1, State: "failed", Err: "connection lost", Started: now}},
			Failures: []wire.FileFailure{{Origin: "file:/data/" + hostile, Reason: "imagerow: unknown image format", At: now}}}},
		{Name: "w2", Role: "worker", State: "alive", Active: 1, Worker: &wire.WorkerStatus{Active: 1,
			Recent: []wire.StreamStatus{{Plan: "abc123", Split: 0, Files: 3, From: 1, Done: 3, State: "done", Started: now},
				{Plan: "abc123", Split: 1, Files: 2, Done: 1, State: "running", Started: now}}}},
		{Name: "w3", Role: "worker", State: "unreachable", Active: -1},
	}}
	srv, _ := newTestConsole(t, DefaultConfig(), st, ps)
	code, body := get(t, srv.URL+"/reads")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		"abc123", "w1, w2", "file:/nope does not exist", "1 streams running now",
		`<td class="num">4 of 5</td><td class="num">1</td>`, // furthest per endpoint: 3 + 1; one resume
		"w1: 1/3 failed", "connection lost", "w2: 3/3 done (resumed at 1)", "w2: 1/2 running",
		`class="failed-file">file:/data/&lt;img src=x onerror=alert(1)&gt;.jpg<`, "imagerow: unknown image format",
		"Not answering now: w3",
		"&lt;img src=x onerror=alert(1)&gt;.jpg&#34;}", // the descriptor, as text
	} {
		if !strings.Contains(body, want) {
			t.Errorf("reads page lacks %q", want)
		}
	}
	if strings.Contains(body, "<img src=x") {
		t.Fatal("a name reached the page as markup")
	}
}

func TestRateIsPlainNotation(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{1100.4, "1100"}, {175.26, "175"}, {57.13, "57.1"}, {3.14159, "3.14"}, {0.5, "0.5"}, {0.0123, "0.0123"}, {0, "0"}} {
		if got := rate(tc.v); got != tc.want {
			t.Errorf("rate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
