package e2e

import (
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/console"
	"github.com/imageflight/imageflight/pkg/corpus"
)

// consoleOnHDFS checks the console's Browse page and `coordinator inspect
// --contact-sheet` on an hdfs:// root: label balance as the corpus has it,
// thumbnails decoded by the workers, broken files named.
func consoleOnHDFS(t *testing.T, consoleAddr, coordinator, root string, entries []corpus.Entry) {
	want := map[string]int{}
	for _, e := range entries {
		if cls, _, ok := strings.Cut(e.Rel, "/"); ok && strings.HasPrefix(cls, "cls=") {
			want[strings.TrimPrefix(cls, "cls=")]++
		}
	}
	t.Run("console browses hdfs://", func(t *testing.T) {
		res, err := http.Get("http://" + consoleAddr + "/browse?path=" + url.QueryEscape(root))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d:\n%s", res.StatusCode, body)
		}
		if !strings.Contains(body, fmt.Sprintf("%d files", len(entries))) {
			t.Errorf("page does not count the %d files", len(entries))
		}
		for cls, n := range want {
			if !strings.Contains(body, fmt.Sprintf(`<td>%s</td><td class="num">%d</td>`, cls, n)) {
				t.Errorf("partition cls=%s: no bar of %d files", cls, n)
			}
		}
		thumbs, err := console.PageThumbnails(body)
		if err != nil || len(thumbs) < len(want) {
			t.Fatalf("%d thumbnails for %d classes: %v", len(thumbs), len(want), err)
		}
		for _, m := range thumbs {
			if m.Bounds().Dx() != 96 {
				t.Fatalf("thumbnail of %v, want 96 pixels wide", m.Bounds())
			}
		}
		if !strings.Contains(body, `<h2>Broken files</h2>`) {
			t.Error("no broken files listed (the corpus has some)")
		}
	})
	t.Run("inspect hdfs:// with a contact sheet", func(t *testing.T) {
		sheet := filepath.Join(t.TempDir(), "sheet.png")
		out, err := exec.Command(filepath.Join(binDir, "coordinator"), "inspect", root, "--coordinator", coordinator,
			"--contact-sheet", sheet).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect: %v\n%s", err, out)
		}
		for cls, n := range want {
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^%s\s+%d\s`, cls, n)).Match(out) {
				t.Errorf("summary lacks %s with %d files:\n%s", cls, n, out)
			}
		}
		f, err := os.Open(sheet)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if b := m.Bounds(); b.Dy() < len(want)*96 {
			t.Errorf("sheet %v has no row per class", b)
		}
	})
}
