package hdfsio_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

// TestLocalOnlyRegularFiles: types are reported without opening, and Open
// refuses anything but a regular file instead of blocking on a FIFO.
func TestLocalOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "ok.jpg"), []byte("x"), 0o644))
	must(syscall.Mkfifo(filepath.Join(dir, "pipe.jpg"), 0o644))
	must(os.Symlink("/dev/null", filepath.Join(dir, "dev.jpg")))
	must(os.Symlink("ok.jpg", filepath.Join(dir, "link.jpg")))
	must(os.Symlink("pipe.jpg", filepath.Join(dir, "pipelink.jpg")))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang fails, not stalls, the suite
	defer cancel()
	infos, err := hdfsio.Local{}.ReadDir(ctx, dir)
	must(err)
	realDir, err := filepath.EvalSymlinks(dir)
	must(err)
	tests := []struct {
		name     string
		regular  bool
		realPath string // for links
	}{
		{"dev.jpg", false, "/dev/null"},
		{"link.jpg", true, realDir + "/ok.jpg"},
		{"ok.jpg", true, ""},
		{"pipe.jpg", false, ""},
		{"pipelink.jpg", false, realDir + "/pipe.jpg"},
	}
	if len(infos) != len(tests) {
		t.Fatalf("ReadDir: %d entries, want %d", len(infos), len(tests))
	}
	for i, tc := range tests {
		fi := infos[i]
		if fi.Name() != tc.name || fi.Mode().IsRegular() != tc.regular {
			t.Errorf("entry %d: %s mode %v, want %s regular=%v", i, fi.Name(), fi.Mode(), tc.name, tc.regular)
		}
		link, isLink := fi.(hdfsio.LinkInfo)
		if isLink != (tc.realPath != "") || (isLink && link.RealPath() != tc.realPath) {
			t.Errorf("%s: link %v real %q, want %q", tc.name, isLink, link.Real, tc.realPath)
		}
		name := filepath.ToSlash(filepath.Join(dir, tc.name))
		st, err := hdfsio.Local{}.Stat(ctx, name)
		if err != nil || st.Mode().IsRegular() != tc.regular {
			t.Errorf("Stat %s: %v %v, want regular=%v", tc.name, st, err, tc.regular)
		}
		f, err := hdfsio.Local{}.Open(ctx, name)
		if tc.regular {
			if err != nil {
				t.Errorf("Open %s: %v", tc.name, err)
				continue
			}
			data, _ := io.ReadAll(f)
			f.Close()
			if string(data) != "x" {
				t.Errorf("Open %s read %q", tc.name, data)
			}
			continue
		}
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open %s: %v, want a refusal wrapping fs.ErrPermission", tc.name, err)
		}
	}
}

func TestLocalConfine(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "alias")); err != nil {
		t.Fatal(err)
	}
	realBase, _ := filepath.EvalSymlinks(base)
	// The root is given through a link; what it is compared with is resolved.
	in := hdfsio.LocalConfine(hdfsio.Roots{{Scheme: "file", Path: filepath.ToSlash(filepath.Join(base, "alias"))}})
	for p, want := range map[string]bool{
		realBase + "/real":        true,
		realBase + "/real/x.jpg":  true,
		realBase + "/realx/y.jpg": false,
		realBase + "/alias/x.jpg": false, // resolved paths never contain links
		"/etc/passwd":             false,
		"":                        false,
	} {
		if got := in(filepath.ToSlash(p)); got != want {
			t.Errorf("confine(%q) = %v, want %v", p, got, want)
		}
	}
}
