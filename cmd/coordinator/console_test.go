package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/console"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
)

const hostileName = `<img src=x onerror=alert(1)>.jpg`

// startConsole runs a standalone process with the console over the sample
// corpus plus a broken file with a hostile name.
func startConsole(t *testing.T, ctx context.Context, adjust func(*server.Config)) (*server.Process, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cls=cats", hostileName), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Roots = []string{dir}
	cfg.Listen, cfg.GossipListen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")
	cfg.LocalGossip = true
	cfg.Console = newConsole
	adjust(&cfg)
	p, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p, dir
}

func fetch(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The console behind --auth-users-file: refused without credentials or
// with a wrong password, served with Basic credentials (then by the
// session cookie alone); its pages show the live member, a plan read
// through the cluster, thumbnails the worker decoded, and the hostile name
// as text. /metrics stays open.
func TestConsoleLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness bound only
	defer cancel()
	users := filepath.Join(t.TempDir(), "users")
	hash, err := server.HashPasswordPBKDF2("s3cret", 10000)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("alice:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, dir := startConsole(t, ctx, func(c *server.Config) { c.Security.AuthUsersFile = users })
	base := p.ConsoleURL()
	if !strings.HasPrefix(base, "http://") {
		t.Fatalf("console URL %q", base)
	}

	ccfg := client.DefaultConfig(p.Location())
	ccfg.Username, ccfg.Password = "alice", "s3cret"
	cl := client.New(ccfg)
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ReadAll(ctx, info, func(client.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}

	for _, page := range []string{"/cluster", "/reads", "/browse?path=" + url.QueryEscape(dir), "/static/style.css"} {
		req, _ := http.NewRequest("GET", base+page, nil)
		if res, _ := fetch(t, req); res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s without credentials: %d %q, want 401 asking for Basic", page, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		req.SetBasicAuth("alice", "wrong")
		if res, _ := fetch(t, req); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", page, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", base+"/cluster", nil)
	req.SetBasicAuth("alice", "s3cret")
	res, body := fetch(t, req)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "standalone") {
		t.Fatalf("/cluster with credentials: %d\n%s", res.StatusCode, body)
	}
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "imageflight_token" && c.HttpOnly {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no HttpOnly session cookie after a Basic login")
	}
	get := func(page string) string {
		req, _ := http.NewRequest("GET", base+page, nil)
		req.AddCookie(session)
		res, body := fetch(t, req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s with the session cookie: %d\n%s", page, res.StatusCode, body)
		}
		return body
	}
	// Rates between two looks at /cluster, from the worker's counters: a
	// read in between makes them positive.
	if _, err := cl.ReadAll(ctx, info, func(client.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	page := get("/cluster")
	rates := regexp.MustCompile(`<td class="num">([0-9.]+)</td>\s*<td class="num">([0-9.]+)</td>\s*<td class="num">([0-9.]+)</td>\s*<td class="num">[0-9.]+ [KMG]?i?B of`).FindStringSubmatch(page)
	if rates == nil {
		t.Fatalf("no plain-number rates on the second look at /cluster:\n%s", page)
	}
	for i, name := range []string{"images/s", "MB/s decoded", "MB/s read"} {
		if v, _ := strconv.ParseFloat(rates[i+1], 64); v <= 0 {
			t.Errorf("%s = %s after a read, want > 0", name, rates[i+1])
		}
	}
	// The health probes' compact worker-status leaves the stream log out;
	// the console's detailed one has it.
	for _, m := range p.ClusterStatus(ctx).Members {
		if m.Worker == nil || len(m.Worker.Recent)+len(m.Worker.Failures) != 0 || m.Worker.Images["ok"] == 0 {
			t.Errorf("compact status of %s: %+v", m.Name, m.Worker)
		}
	}
	for _, m := range p.ClusterStatusDetail(ctx).Members {
		if m.Worker == nil || len(m.Worker.Recent) == 0 || len(m.Worker.Failures) == 0 {
			t.Errorf("detailed status of %s lacks streams or failures: %+v", m.Name, m.Worker)
		}
	}
	files := int(info.GetTotalRecords())
	if files <= 0 {
		t.Fatalf("plan has %d records", files)
	}
	body = get("/reads")
	for _, want := range []string{"file:" + dir, `<span class="ok">planned</span>`,
		fmt.Sprintf(`<td class="num">%d of %d</td><td class="num">0</td>`, files, files), // every file sent, no resume
		"truncated.jpg</td><td>jpeg: Premature end of JPEG file",                         // a failed file and why, from the worker
		html.EscapeString(hostileName) + "</td><td>imagerow: unknown image format"} {
		if !strings.Contains(body, want) {
			t.Errorf("/reads lacks %q:\n%s", want, body)
		}
	}
	body = get("/browse?path=" + url.QueryEscape(dir))
	if strings.Contains(body, "<img src=x") || !strings.Contains(body, html.EscapeString(hostileName)) {
		t.Error("the hostile name is not shown escaped")
	}
	thumbs, err := console.PageThumbnails(body)
	if err != nil || len(thumbs) == 0 {
		t.Fatalf("thumbnails: %d, %v\n%s", len(thumbs), err, body)
	}
	for _, m := range thumbs {
		if m.Bounds().Dx() != 96 {
			t.Fatalf("thumbnail of %v, want 96 pixels wide", m.Bounds())
		}
	}
	if res, err := http.Get("http://" + p.MetricsAddr() + "/metrics"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// inspect --contact-sheet: the sheet decodes, and a PNG's tile equals the
// thumbnail made here from the same file with the workers' own decode and
// resize (PNG tiles: lossless, and fastResize only changes JPEG decoding).
func TestInspectContactSheet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness bound only
	defer cancel()
	p, dir := startConsole(t, ctx, func(*server.Config) {})
	cl := client.New(client.DefaultConfig(p.Location()))
	defer cl.Close()
	cfg := console.DefaultScanConfig()
	cfg.ThumbsPerClass = 6
	sheetFile := filepath.Join(t.TempDir(), "sheet.png")
	var out bytes.Buffer
	if err := inspect(ctx, dir, cfg, console.FlightThumbnailer{Client: cl}, sheetFile, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Logf("inspect output:\n%s", text)
	for _, want := range []string{"PARTITION cls", "cats", "dogs", "FORMAT (extension)", "LARGER SIDE (headers of", "BROKEN", strconv.Quote("cls=cats/" + hostileName)} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	f, err := os.Open(sheetFile)
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	stages, err := stage.Parse(console.ThumbnailStages(cfg.ThumbSize))
	if err != nil {
		t.Fatal(err)
	}
	tile := regexp.MustCompile(`(?m)^("[^"\n]+\.png")\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
	compared := 0
	for _, m := range tile.FindAllStringSubmatch(text, -1) {
		origin, _ := strconv.Unquote(m[1])
		x, _ := strconv.Atoi(m[2])
		y, _ := strconv.Atoi(m[3])
		w, _ := strconv.Atoi(m[4])
		if w == 0 {
			continue // a broken file's grey tile
		}
		data, err := os.ReadFile(strings.TrimPrefix(origin, "file:"))
		if err != nil {
			t.Fatal(err)
		}
		row, err := imagerow.Decode(origin, data, imagerow.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if row, err = transform.ApplyRow(stages, row); err != nil {
			t.Fatal(err)
		}
		want, err := console.RowImage(row)
		if err != nil {
			t.Fatal(err)
		}
		b := want.Bounds()
		for yy := 0; yy < b.Dy(); yy++ {
			for xx := 0; xx < b.Dx(); xx++ {
				g := color.RGBAModel.Convert(sheet.At(x+xx, y+yy))
				e := color.RGBAModel.Convert(want.At(xx, yy))
				if g != e {
					t.Fatalf("%s: tile pixel (%d,%d) = %v, the thumbnail made here has %v", origin, xx, yy, g, e)
				}
			}
		}
		compared++
	}
	if compared == 0 {
		t.Fatalf("no PNG tile to compare in:\n%s", text)
	}
	t.Logf("%d PNG tiles equal their thumbnails; sheet %v", compared, sheet.Bounds())
}

// --http-listen: the console on its own port, without /metrics there; no
// metrics listener at all.
func TestConsoleOwnListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness bound only
	defer cancel()
	p, _ := startConsole(t, ctx, func(c *server.Config) { c.MetricsListen, c.HTTPListen = "", "127.0.0.1:0" })
	if p.MetricsAddr() != "" || p.ConsoleURL() == "" {
		t.Fatalf("metrics %q, console %q", p.MetricsAddr(), p.ConsoleURL())
	}
	for page, code := range map[string]int{"/cluster": http.StatusOK, "/reads": http.StatusOK, "/metrics": http.StatusNotFound} {
		req, _ := http.NewRequest("GET", p.ConsoleURL()+page, nil)
		if res, body := fetch(t, req); res.StatusCode != code {
			t.Errorf("%s: %d, want %d\n%s", page, res.StatusCode, code, body)
		}
	}
}
