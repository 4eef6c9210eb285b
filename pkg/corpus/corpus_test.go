package corpus

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow"
)

var update = flag.Bool("update", false, "regenerate fixtures/ (needs cjpeg and cwebp)")

// TestFixtures regenerates the embedded fixtures with -update; otherwise
// it only checks they are present. Rebuild the test binary after updating
// (go:embed reads the files at compile time).
func TestFixtures(t *testing.T) {
	if !*update {
		for name := range fixtureSrc {
			if st, err := os.Stat(filepath.Join("fixtures", name)); err != nil || st.Size() == 0 {
				t.Fatalf("fixture %s missing; run with -update", name)
			}
		}
		return
	}
	tmp := t.TempDir()
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	for name, f := range fixtureSrc {
		var b bytes.Buffer
		if err := png.Encode(&b, photo(f.w, f.h, f.seed)); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(tmp, name+".png")
		if err := os.WriteFile(src, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("fixtures", name)
		switch name {
		case "progressive.jpg":
			// cjpeg reads PPM, not PNG.
			m := photo(f.w, f.h, f.seed)
			ppm := []byte(fmt.Sprintf("P6\n%d %d\n255\n", f.w, f.h))
			for i := 0; i < len(m.Pix); i += 4 {
				ppm = append(ppm, m.Pix[i:i+3]...)
			}
			src = filepath.Join(tmp, "src.ppm")
			if err := os.WriteFile(src, ppm, 0o644); err != nil {
				t.Fatal(err)
			}
			run("cjpeg", "-progressive", "-quality", "85", "-outfile", dst, src)
		case "lossless.webp":
			run("cwebp", "-quiet", "-lossless", "-exact", src, "-o", dst)
		case "lossy.webp":
			run("cwebp", "-quiet", "-q", "80", src, "-o", dst)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	entries, err := Write(dir, Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 35 {
		t.Fatalf("%d entries, want ~40", len(entries))
	}
	var total int64
	formats := map[string]int{}
	for i, e := range entries {
		if i > 0 && entries[i-1].Rel >= e.Rel {
			t.Fatalf("entries not sorted at %s", e.Rel)
		}
		formats[e.Format]++
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Rel)))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(data))
		if !strings.HasPrefix(e.Rel, "cls=") || strings.Count(e.Rel, "/") != 2 {
			t.Errorf("%s: want cls=*/split=*/name", e.Rel)
		}
		row, derr := imagerow.Decode("file:/"+e.Rel, data, imagerow.DefaultOptions())
		if e.Format == "broken" {
			if derr == nil || row.Valid() {
				t.Errorf("%s: broken file decoded", e.Rel)
			}
			continue
		}
		if derr != nil {
			t.Errorf("%s: %v", e.Rel, derr)
			continue
		}
		if row.Height != e.Height || row.Width != e.Width || row.NChannels != e.NChannels || row.Mode != e.Mode {
			t.Errorf("%s: row %dx%dx%d mode %d, entry %dx%dx%d mode %d", e.Rel,
				row.Height, row.Width, row.NChannels, row.Mode, e.Height, e.Width, e.NChannels, e.Mode)
			continue
		}
		if e.Data != nil && !bytes.Equal(row.Data, e.Data) {
			t.Errorf("%s: decoded bytes differ from Entry.Data", e.Rel)
		}
		if e.Data == nil && e.Format != "jpeg" && !(e.Format == "webp") {
			t.Errorf("%s: lossless entry without Data", e.Rel)
		}
	}
	for _, h := range Hidden {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(h))); err != nil {
			t.Errorf("hidden file %s not written: %v", h, err)
		}
		for _, e := range entries {
			if e.Rel == h {
				t.Errorf("hidden file %s returned as an entry", h)
			}
		}
	}
	for _, f := range []string{"jpeg", "png", "gif", "bmp", "tiff", "webp", "broken"} {
		if formats[f] == 0 {
			t.Errorf("no %s entries", f)
		}
	}
	t.Logf("%d entries, %d bytes, formats %v", len(entries), total, formats)
	if total > 16<<20 {
		t.Errorf("corpus is %d bytes, want a few MB", total)
	}
}

// TestDeterministic: two Writes produce identical files and entries.
func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ea, err := Write(a, Options{Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := Write(b, Options{Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ea) != len(eb) || len(ea) < 70 {
		t.Fatalf("len %d vs %d", len(ea), len(eb))
	}
	for i := range ea {
		da, _ := os.ReadFile(filepath.Join(a, ea[i].Rel))
		db, _ := os.ReadFile(filepath.Join(b, eb[i].Rel))
		if ea[i].Rel != eb[i].Rel || !bytes.Equal(da, db) || !bytes.Equal(ea[i].Data, eb[i].Data) {
			t.Fatalf("%s differs between runs", ea[i].Rel)
		}
	}
}

func TestWriteMissingDir(t *testing.T) {
	if _, err := Write(filepath.Join(t.TempDir(), "nope"), Options{}); err == nil {
		t.Fatal("Write into a missing dir succeeded")
	}
}
