package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
)

// layout is a tree to build in a temp dir: "f:p" a file, "l:p>target" a
// symlink, "p:p" a FIFO, "s:p" a socket, "d:p" a directory. "$ROOT" and "$OUT" in a
// target expand to the listing root and a sibling folder outside it.
type layout []string

func build(t *testing.T, spec layout) (root, out string) {
	t.Helper()
	base := t.TempDir()
	root, out = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range spec {
		kind, rest, _ := strings.Cut(s, ":")
		rest = strings.NewReplacer("$ROOT", root, "$OUT", out).Replace(rest)
		p, target, _ := strings.Cut(rest, ">")
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch kind {
		case "f":
			err = os.WriteFile(p, []byte("x"), 0o644)
		case "d":
			err = os.MkdirAll(p, 0o755)
		case "l":
			err = os.Symlink(target, p)
		case "p":
			err = syscall.Mkfifo(p, 0o644)
		case "s":
			var ln net.Listener
			if ln, err = net.Listen("unix", p); err == nil {
				t.Cleanup(func() { ln.Close() })
			}
		default:
			t.Fatalf("bad layout entry %q", s)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root, out
}

func rel(root string, files []File) []string {
	out := []string{}
	for _, f := range files {
		r, _ := filepath.Rel(root, f.Path)
		out = append(out, filepath.ToSlash(r))
	}
	return out
}

// listCtx bounds a listing that, before the fixes, never ended: the test
// fails instead of hanging the suite. It asserts nothing about speed.
func listCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestListHostileTrees(t *testing.T) {
	tests := []struct {
		name      string
		spec      layout
		recursive bool
		confine   func(root, out string) func(string) bool
		want      []string
		skipped   ListStats
	}{
		{name: "two links to the root, recursive",
			spec: layout{"f:x.jpg", "l:a>.", "l:b>.", "f:sub/y.jpg", "l:sub/up>.."}, recursive: true,
			want: []string{"sub/y.jpg", "x.jpg"}, skipped: ListStats{Cycles: 3}},
		{name: "partition-named links to the root, not recursive",
			spec: layout{"f:x.jpg", "l:a=1>.", "l:b=2>.", "f:c=3/z.jpg", "l:c=3/d=4>$ROOT"},
			want: []string{"c=3/z.jpg", "x.jpg"}, skipped: ListStats{Cycles: 3}},
		{name: "link to a sibling is not a cycle, and one name is kept",
			spec: layout{"f:real/x.jpg", "l:alias>real"}, recursive: true,
			want: []string{"alias/x.jpg"}, skipped: ListStats{Aliases: 1}},
		{name: "two sibling links to one folder keep the smallest name",
			spec: layout{"f:z/x.jpg", "l:m>z", "l:b>z"}, recursive: true,
			want: []string{"b/x.jpg"}, skipped: ListStats{Aliases: 2}},
		{name: "a shallower name wins over a smaller one",
			spec: layout{"f:z/x.jpg", "l:a/deep>../z"}, recursive: true,
			want: []string{"z/x.jpg"}, skipped: ListStats{Aliases: 1}},
		{name: "FIFOs, sockets and devices are not listed",
			spec:    layout{"f:ok.jpg", "p:pipe.jpg", "p:cls=a/pipe2.jpg", "l:null.jpg>/dev/null", "s:sock.jpg", "f:cls=a/ok2.jpg"},
			confine: func(string, string) func(string) bool { return func(string) bool { return true } },
			want:    []string{"cls=a/ok2.jpg", "ok.jpg"}, skipped: ListStats{Irregular: 4}},
		{name: "links outside the listing root are skipped by default",
			spec: layout{"f:ok.jpg", "l:in.jpg>ok.jpg", "f:$OUT/secret.jpg", "f:$OUT/d/s.jpg",
				"l:leak.jpg>$OUT/secret.jpg", "l:cls=x>$OUT/d", "l:dangling.jpg>$OUT/none.jpg", "l:null.jpg>/dev/null"},
			want: []string{"in.jpg", "ok.jpg"}, skipped: ListStats{Outside: 3}},
		{name: "links into another served root are kept",
			spec: layout{"f:ok.jpg", "f:$OUT/secret.jpg", "l:leak.jpg>$OUT/secret.jpg", "l:null.jpg>/dev/null"},
			confine: func(root, out string) func(string) bool {
				return hdfsio.LocalConfine(hdfsio.Roots{{Scheme: "file", Path: root}, {Scheme: "file", Path: out}})
			},
			want: []string{"leak.jpg", "ok.jpg"}, skipped: ListStats{Outside: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, out := build(t, tc.spec)
			var logBuf bytes.Buffer
			opts := ListOptions{Recursive: tc.recursive, Parallelism: 3, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
			if tc.confine != nil {
				opts.Confine = tc.confine(root, out)
			}
			l, err := ListDirs(listCtx(t), hdfsio.Local{}, root, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := rel(root, l.Files); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
			if l.Skipped != tc.skipped {
				t.Errorf("skipped %+v, want %+v", l.Skipped, tc.skipped)
			}
			if strings.Contains(logBuf.String(), out) && tc.confine == nil {
				t.Errorf("log echoes the outside folder: %s", logBuf.String())
			}
			if tc.skipped != (ListStats{}) && !strings.Contains(logBuf.String(), "listing skipped entries") {
				t.Errorf("skips not logged: %q", logBuf.String())
			}
		})
	}
}

func TestListRootOutsideRoots(t *testing.T) {
	root, out := build(t, layout{"f:$OUT/secret.jpg", "l:link>$OUT", "l:file.jpg>$OUT/secret.jpg", "f:ok.jpg", "p:pipe.jpg"})
	confine := hdfsio.LocalConfine(hdfsio.Roots{{Scheme: "file", Path: root}})
	for _, p := range []string{root + "/link", root + "/file.jpg"} {
		_, err := List(listCtx(t), hdfsio.Local{}, p, ListOptions{Confine: confine})
		if !errors.Is(err, ErrOutsideRoots) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v, want ErrOutsideRoots", p, err)
		}
		if err != nil && strings.Contains(err.Error(), out) {
			t.Errorf("%s: error echoes the outside path: %v", p, err)
		}
	}
	l, err := ListDirs(listCtx(t), hdfsio.Local{}, root+"/pipe.jpg", ListOptions{Confine: confine})
	if err != nil || len(l.Files) != 0 || l.Skipped.Irregular != 1 {
		t.Errorf("FIFO as the root: %+v, %v; want nothing listed, one irregular", l, err)
	}
}

func TestListLimits(t *testing.T) {
	// An endless tree (as a link loop looks where no inode is known): every
	// directory holds one file and one subdirectory.
	endless := memfs.Generated(func(dir string) []fs.FileInfo {
		return []fs.FileInfo{&memfs.Info{N: "d", M: fs.ModeDir}, &memfs.Info{N: "f.jpg", S: 1}}
	})
	wide := memfs.Generated(func(dir string) []fs.FileInfo {
		if dir != "/w" && dir != "/" {
			return nil
		}
		out := make([]fs.FileInfo, 1000)
		for i := range out {
			out[i] = &memfs.Info{N: fmt.Sprintf("%04d.jpg", i), S: 1}
		}
		return out
	})
	tests := []struct {
		name string
		fsys *memfs.FS
		opts ListOptions
		want error
	}{
		{"depth default", endless, ListOptions{Recursive: true}, ErrTooDeep},
		{"depth 5", endless, ListOptions{Recursive: true, MaxDepth: 5}, ErrTooDeep},
		{"entries", endless, ListOptions{Recursive: true, MaxEntries: 20}, ErrTooManyEntries},
		{"wide entries", wide, ListOptions{MaxEntries: 999}, ErrTooManyEntries},
		{"wide ok", wide, ListOptions{MaxEntries: 1000}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := List(listCtx(t), tc.fsys, "/w", tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "/w") {
				t.Errorf("error does not name the path: %v", err)
			}
		})
	}
}

// TestListOrder checks the per-directory merge against a plain sort of the
// full paths on names built to trip it ("a" vs "a.jpg" vs "a/…" vs "a0").
func TestListOrder(t *testing.T) {
	names := []string{"a", "a.jpg", "a-b", "a0", "b", "a b", "ab", "a=1", "A=2", "%41"}
	rng := rand.New(rand.NewSource(7))
	var paths []string
	for range 400 {
		p := "/r"
		for range 1 + rng.Intn(3) {
			p += "/" + names[rng.Intn(len(names))]
		}
		paths = append(paths, p+"/"+names[rng.Intn(len(names))]+".f")
	}
	l, err := ListDirs(context.Background(), treeFS(paths...), "/r", ListOptions{Recursive: true, Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range l.Files {
		got = append(got, f.Path)
	}
	want := slices.Compact(slices.Sorted(slices.Values(paths)))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listing order differs from path order:\n got %v\nwant %v", got, want)
	}
	// Each file's directory entry holds exactly what PartitionValues parses.
	for _, f := range l.Files {
		d := l.Dirs[f.Dir]
		k, v := PartitionValues("/r", f.Path)
		if d.Path != f.Path[:strings.LastIndexByte(f.Path, '/')] || !slices.Equal(d.Keys, k) || !slices.Equal(d.Values, v) {
			t.Fatalf("%s: dir %+v, want keys %v values %v", f.Path, d, k, v)
		}
	}
	if !reflect.DeepEqual(l.Columns(), Columns("/r", l.Files)) {
		t.Errorf("Listing.Columns %v != Columns %v", l.Columns(), Columns("/r", l.Files))
	}
}
