package hdfsio

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func TestRootedLocalOpensOnlyRegularFilesBeneathItsRoots(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "in.jpg"), "inside")
	write(filepath.Join(outside, "secret.jpg"), "outside")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(root, "abs-out.jpg")))
	must(os.Symlink("../"+filepath.Base(outside)+"/secret.jpg", filepath.Join(root, "rel-out.jpg")))
	must(os.Symlink("in.jpg", filepath.Join(root, "link-in.jpg")))
	must(os.Symlink("/proc/self/fd/0", filepath.Join(root, "fd.jpg")))
	must(syscall.Mkfifo(filepath.Join(root, "pipe.jpg"), 0o644))
	l, err := NewRootedLocal(Roots{{Scheme: "file", Path: root}})
	must(err)
	defer l.Close()
	tests := []struct {
		name string
		want string // contents, or "" for a permission refusal
	}{
		{"in.jpg", "inside"},
		{"link-in.jpg", "inside"},
		{"abs-out.jpg", ""},
		{"rel-out.jpg", ""},
		{"fd.jpg", ""},
		{"pipe.jpg", ""}, // must not block
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := l.Open(context.Background(), root+"/"+tc.name)
			if tc.want == "" {
				if !errors.Is(err, fs.ErrPermission) {
					t.Fatalf("opened (err %v), want a permission refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			if string(b) != tc.want {
				t.Errorf("read %q, want %q", b, tc.want)
			}
		})
	}
	if _, err := l.Open(context.Background(), outside+"/secret.jpg"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("path outside every root: %v", err)
	}
	if _, err := l.Open(context.Background(), root+"/nope.jpg"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestRootedLocalSwapRace swaps a name between a file inside the root and a
// link to a file outside while reading it: no read may ever return the
// outside file's bytes (a check-then-open served them 453 times in 9,000).
func TestRootedLocalSwapRace(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "good.jpg"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.jpg"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := NewRootedLocal(Roots{{Scheme: "file", Path: root}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	name := filepath.Join(root, "x.jpg")
	if err := os.Symlink("good.jpg", name); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tmp := filepath.Join(root, "x.tmp")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := "good.jpg"
			if i%2 == 1 {
				target = filepath.Join(outside, "secret.jpg")
			}
			os.Remove(tmp)
			os.Symlink(target, tmp)
			os.Rename(tmp, name)
		}
	}()
	inside := 0
	for i := 0; i < 3000 || (inside < 100 && i < 300_000); i++ {
		f, err := l.Open(context.Background(), name)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) == "outside" {
			t.Fatal("served a file outside the root")
		}
		inside++
	}
	close(stop)
	wg.Wait()
	if inside == 0 {
		t.Error("never read the inside file: the race was not exercised")
	}
}
