package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
)

// levels is n wildcard folder segments: "*/*/…/".
func levels(n int) string { return strings.Repeat("*/", n) }

// chain links l0 … ln-1 each to the next folder twice (a and b), ending at
// ln/x.png: 2^n names of one file, and no link loop.
func chain(n int) layout {
	var spec layout
	for i := range n {
		spec = append(spec, fmt.Sprintf("l:l%d/a>../l%d", i, i+1), fmt.Sprintf("l:l%d/b>../l%d", i, i+1))
	}
	return append(spec, fmt.Sprintf("f:l%d/x.png", n))
}

// TestExpandGlobLinks expands globs through symlinks on local disk: a
// folder that is its own ancestor is not entered, and a file or folder
// reached by several names matches once, by the name sorting first.
// Before, the 16-level patterns took 2^16 listings and matched one file
// 65,536 times.
func TestExpandGlobLinks(t *testing.T) {
	cycle := layout{"f:cyc/x.png", "l:cyc/a>.", "l:cyc/b>."}
	tests := []struct {
		name    string
		spec    layout
		pattern string // below the root
		want    []string
	}{
		{"links to their own folder, 16 levels", cycle, "cyc/" + levels(16) + "*.png", []string{}},
		{"links to their own folder are not matched", cycle, "cyc/*", []string{"cyc/x.png"}},
		{"links to a parent, one level", layout{"f:d/x.png", "l:d/s/up>../.."}, "d/*/*/*", []string{}},
		{"two links per level, 16 levels", chain(16), "l0/" + levels(16) + "*.png",
			[]string{"l0/" + strings.Repeat("a/", 16) + "x.png"}},
		{"two names of one folder", layout{"f:real/x.png", "l:alias>real"}, "{real,alias}", []string{"alias"}},
		{"two names of one folder, below", layout{"f:real/x.png", "l:alias>real"}, "*/x.png", []string{"alias/x.png"}},
		{"two names of one file", layout{"f:d/x.png", "l:d/y.png>x.png", "f:d/z.png"}, "d/*.png", []string{"d/x.png", "d/z.png"}},
		{"two names of one file, from two brace expansions", layout{"f:d/x.png", "l:e/y.png>../d/x.png"}, "{e/y,d/x}.png", []string{"d/x.png"}},
		{"a link and the folder it names: the first name is kept", layout{"f:real/x.png", "f:other/y.png", "l:alias>other"}, "*/*.png",
			[]string{"alias/y.png", "real/x.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := build(t, tc.spec)
			got, err := ExpandGlob(listCtx(t), hdfsio.Local{}, filepath.ToSlash(root)+"/"+tc.pattern, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			files := make([]File, len(got))
			for i, p := range got {
				files[i] = File{Path: p}
			}
			if r := rel(root, files); !reflect.DeepEqual(r, tc.want) {
				if len(r) > 4 {
					r = append(r[:4], fmt.Sprintf("… (%d in all)", len(r)))
				}
				t.Errorf("matched %v, want %v", r, tc.want)
			}
		})
	}
}

// TestExpandGlobLimits bounds expansion like a walk: depth below the
// static prefix and entries listed, naming the pattern. Without identities
// (memfs, like HDFS) two names of one folder cannot be told apart, so only
// the entry bound stops the doubling.
func TestExpandGlobLimits(t *testing.T) {
	doubling := memfs.Generated(func(dir string) []fs.FileInfo {
		return []fs.FileInfo{&memfs.Info{N: "a", M: fs.ModeDir}, &memfs.Info{N: "b", M: fs.ModeDir}, &memfs.Info{N: "x.png", S: 1}}
	})
	tests := []struct {
		name    string
		pattern string
		opts    ListOptions
		want    error
		matches int
	}{
		{"deeper than the default", "/w/" + levels(DefaultMaxDepth+1) + "x.png", ListOptions{}, ErrTooDeep, 0},
		{"deeper than asked", "/w/" + levels(5) + "*.png", ListOptions{MaxDepth: 5}, ErrTooDeep, 0},
		{"as deep as asked", "/w/" + levels(4) + "*.png", ListOptions{MaxDepth: 5}, nil, 16},
		{"16 doubling levels, more entries than asked", "/w/" + levels(16) + "*.png", ListOptions{MaxEntries: 10_000}, ErrTooManyEntries, 0},
		{"literal segments after wildcards", "/w/*/a/*/x.png", ListOptions{}, nil, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandGlob(listCtx(t), doubling, tc.pattern, tc.opts)
			if !errors.Is(err, tc.want) || len(got) != tc.matches {
				t.Fatalf("%d matches, %v; want %d, %v", len(got), err, tc.matches, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.pattern) {
				t.Errorf("error does not name the pattern: %v", err)
			}
		})
	}
}

func TestDistinct(t *testing.T) {
	root, _ := build(t, layout{"f:real/x.png", "l:alias>real", "f:other/y.png"})
	r := filepath.ToSlash(root)
	paths := []string{r + "/real", r + "/other", r + "/alias", r + "/missing", r + "/real/x.png", r + "/alias/x.png"}
	want := []string{r + "/real", r + "/other", r + "/missing", r + "/real/x.png"}
	if got := Distinct(listCtx(t), hdfsio.Local{}, paths); !reflect.DeepEqual(got, want) {
		t.Errorf("local: %v, want %v", got, want)
	}
	mem := treeFS("/d/a/x.png", "/d/b/x.png")
	if got := Distinct(listCtx(t), mem, []string{"/d/a", "/d/b", "/d/a"}); len(got) != 3 {
		t.Errorf("without identities every path is its own: %v", got)
	}
}
