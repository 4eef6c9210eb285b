package plan

import (
	"log/slog"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

// listed is what a run of a listing produced: its files with their
// partition values, and its skip counts.
type listed struct {
	files   []string
	values  [][]string
	skipped ListStats
}

func listedOf(root string, l Listing) listed {
	out := listed{files: rel(root, l.Files), skipped: l.Skipped}
	for _, f := range l.Files {
		out.values = append(out.values, l.Dirs[f.Dir].Values)
	}
	return out
}

var quiet = slog.New(slog.DiscardHandler)

// TestListLinkAliases walks trees where links give folders several names:
// each folder is walked once, under its shallowest name (ties: the
// smallest path), and the partition values are those of the kept name.
// Before, a 16-level chain of two links per level listed one file 131,071
// times, and two names of one folder listed its files under both.
func TestListLinkAliases(t *testing.T) {
	tests := []struct {
		name      string
		spec      layout
		roots     []string // below the temp root; "" is the root itself
		recursive bool
		want      []string
		values    [][]string
	}{
		{name: "two links per level, 16 levels", spec: chain(16), roots: []string{""}, recursive: true,
			want: []string{"l16/x.png"}, values: [][]string{nil}},
		{name: "two links per level, below the chain's head", spec: chain(16), roots: []string{"l0"}, recursive: true,
			want: []string{"l0/" + strings.Repeat("a/", 16) + "x.png"}, values: [][]string{nil}},
		{name: "partition values come from the kept name", spec: layout{"f:k=2/x.jpg", "l:k=1>k=2"}, roots: []string{""},
			want: []string{"k=1/x.jpg"}, values: [][]string{{"1"}}},
		{name: "a path and a link to one of its own folders",
			spec:  layout{"f:cyc/y.jpg", "f:cyc/a/x.jpg", "l:cyc/a/up>.."},
			roots: []string{"cyc", "cyc/a"}, recursive: true,
			want: []string{"cyc/a/x.jpg", "cyc/y.jpg"}, values: [][]string{nil, nil}},
		{name: "a path and a link to one of its own folders, other order",
			spec:  layout{"f:cyc/y.jpg", "f:cyc/a/x.jpg", "l:cyc/a/up>.."},
			roots: []string{"cyc/a", "cyc"}, recursive: true,
			want: []string{"cyc/a/x.jpg", "cyc/y.jpg"}, values: [][]string{nil, nil}},
		{name: "a path and a link-alias of its subfolder",
			spec:  layout{"f:cyc/a/x.jpg", "l:cyc/b>a", "l:cyc/a/c>.."},
			roots: []string{"cyc", "cyc/b"}, recursive: true,
			want: []string{"cyc/b/x.jpg"}, values: [][]string{nil}}, // a root is shallower than any folder
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := build(t, tc.spec)
			var roots []string
			for _, r := range tc.roots {
				roots = append(roots, path.Join(filepath.ToSlash(root), r))
			}
			var first listed
			// Repeated runs with many workers must keep the same names.
			for i := range 20 {
				start := time.Now()
				l, err := ListRoots(listCtx(t), hdfsio.Local{}, roots, ListOptions{Recursive: tc.recursive, Parallelism: 8, Confine: inside(root), Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				got := listedOf(root, l)
				if i == 0 {
					first = got
					t.Logf("listed in %v: %+v", time.Since(start), got)
					if !reflect.DeepEqual(got.files, tc.want) || !reflect.DeepEqual(got.values, tc.values) {
						t.Fatalf("listed %v with values %q, want %v with %q", got.files, got.values, tc.want, tc.values)
					}
				} else if !reflect.DeepEqual(got, first) {
					t.Fatalf("run %d listed %+v, run 0 %+v", i, got, first)
				}
			}
		})
	}
}

// inside confines links to the test's tree (a root below it may link to
// its siblings).
func inside(root string) func(string) bool {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		panic(err)
	}
	return func(p string) bool { return within(p, filepath.ToSlash(real)) }
}

// TestListRootsWithoutIdentity: where the filesystem reports no identity,
// a folder's path is its identity, so overlapping roots walk it once.
func TestListRootsWithoutIdentity(t *testing.T) {
	fsys := treeFS("/d/y.jpg", "/d/a/x.jpg", "/d/a/b/z.jpg")
	for _, roots := range [][]string{{"/d", "/d/a"}, {"/d/a", "/d"}, {"/d/a/b", "/d", "/d/a"}} {
		l, err := ListRoots(listCtx(t), fsys, roots, ListOptions{Recursive: true, Parallelism: 4, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range l.Files {
			got = append(got, f.Path)
		}
		if want := []string{"/d/a/b/z.jpg", "/d/a/x.jpg", "/d/y.jpg"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%v: listed %v, want %v", roots, got, want)
		}
		if want := int64(len(roots) - 1); l.Skipped.Aliases != want {
			t.Errorf("%v: %d folders walked twice, want %d aliases", roots, l.Skipped.Aliases, want)
		}
	}
}

// TestGlobAndWalkAgree: listing a glob's folder matches gives the files
// (and names) that walking their parent gives.
func TestGlobAndWalkAgree(t *testing.T) {
	spec := append(chain(3), "f:real/x.jpg", "l:alias>real", "l:zz>real")
	root, _ := build(t, spec)
	root = filepath.ToSlash(root)
	matches, err := ExpandGlob(listCtx(t), hdfsio.Local{}, root+"/*", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := List(listCtx(t), hdfsio.Local{}, root, ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ListRoots(listCtx(t), hdfsio.Local{}, matches, ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rel(root, got.Files), rel(root, want)) || !slices.Contains(rel(root, want), "alias/x.jpg") {
		t.Errorf("glob %v then walk listed %v; the walk of %s listed %v", matches, rel(root, got.Files), root, rel(root, want))
	}
}
