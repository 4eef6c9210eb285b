package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

// TestFailureReasonsHideServerPaths: a failure reason names the file by
// its name alone (docs/protocol.md, failureReasons), never the served root
// or where a link leads, whatever the refusal.
func TestFailureReasonsHideServerPaths(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "imgroot"), filepath.Join(base, "elsewhere")
	for _, d := range []string{filepath.Join(root, "cls=a"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.png"), filepath.Join(root, "cls=a", "leak.png")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "cls=a", "pipe.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, err := hdfsio.NewRootedLocal(hdfsio.Roots{{Scheme: "file", Path: filepath.ToSlash(root)}})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for _, name := range []string{"cls=a/leak.png", "cls=a/pipe.png"} {
		t.Run(name, func(t *testing.T) {
			full := filepath.ToSlash(filepath.Join(root, name))
			f, err := fsys.Open(context.Background(), full)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			reason := failureReason(err, fsys.URI(full), full)
			for _, p := range []string{base, "imgroot", "elsewhere", "secret"} {
				if strings.Contains(reason, p) {
					t.Errorf("reason %q names %q", reason, p)
				}
			}
			if !strings.Contains(reason, filepath.Base(name)) {
				t.Errorf("reason %q does not name the file", reason)
			}
		})
	}
}
