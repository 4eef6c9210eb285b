package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/glob"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/wire"
)

func selectTree() *memfs.FS {
	files := map[string][]byte{}
	for _, p := range []string{
		"/d/cls=cat/n=1/001.jpg", "/d/cls=cat/n=1/002.png", "/d/cls=cat/n=2/010.JPG",
		"/d/cls=dog/n=1/003.jpg", "/d/cls=dog/n=3/004.jpeg", "/d/cls=dog/README.txt",
		"/d/cls=__HIVE_DEFAULT_PARTITION__/n=1/005.jpg", "/d/_tmp/006.jpg", "/d/.cache/007.jpg",
		"/d/a{b}/x.jpg", "/d/top.jpg",
	} {
		files[p] = []byte(p)
	}
	return memfs.New(files)
}

func TestExpandGlob(t *testing.T) {
	fsys := selectTree()
	cases := map[string]string{
		"/d/cls=*":                 "/d/cls=__HIVE_DEFAULT_PARTITION__ /d/cls=cat /d/cls=dog",
		"/d/cls=*/n=1/00?.jpg":     "/d/cls=__HIVE_DEFAULT_PARTITION__/n=1/005.jpg /d/cls=cat/n=1/001.jpg /d/cls=dog/n=1/003.jpg",
		"/d/cls={cat,dog}/n=1":     "/d/cls=cat/n=1 /d/cls=dog/n=1",
		"/d/cls=cat/n=[12]/*":      "/d/cls=cat/n=1/001.jpg /d/cls=cat/n=1/002.png /d/cls=cat/n=2/010.JPG",
		"/d/cls=[^c]*/n=3/*":       "/d/cls=dog/n=3/004.jpeg",
		"/d/{cls=cat/n=2,top.jpg}": "/d/cls=cat/n=2 /d/top.jpg",
		"/d/*/006.jpg":             "", // _tmp is hidden
		"/d/*/007.jpg":             "", // .cache is hidden
		`/d/a\{b\}/*`:              "/d/a{b}/x.jpg",
		"/d/cls=*/missing/*":       "",
		"/d/top.jpg/*":             "", // a file is no folder
		"/nowhere/*":               "",
		"/d/cls=cat/n=1/001.jp?":   "/d/cls=cat/n=1/001.jpg",
	}
	for pattern, want := range cases {
		got, err := ExpandGlob(context.Background(), fsys, pattern, ListOptions{})
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("ExpandGlob(%q) = %q, %v; want %q", pattern, got, err, want)
		}
	}
	for _, bad := range []string{"/d/[x", "/d/{a,../etc}/*", "/d/*/../x"} {
		if _, err := ExpandGlob(context.Background(), fsys, bad, ListOptions{}); !errors.Is(err, glob.ErrSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestListPartitionBase(t *testing.T) {
	fsys := selectTree()
	cases := []struct{ root, base, want string }{
		{"/d/cls=cat", "", "n=1;n=1;n=2;"},
		{"/d/cls=cat", "/d", "cls=cat,n=1;cls=cat,n=1;cls=cat,n=2;"},
		{"/d/cls=cat/n=2", "/d", "cls=cat,n=2;"},
		{"/d/cls=cat/n=2/010.JPG", "/d", "cls=cat,n=2;"},
		{"/d/cls=cat/n=2/010.JPG", "", ";"},
	}
	for _, tc := range cases {
		l, err := ListDirs(context.Background(), fsys, tc.root, ListOptions{PartitionBase: tc.base})
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, f := range l.Files {
			d := l.Dirs[f.Dir]
			for i, k := range d.Keys {
				if i > 0 {
					got.WriteByte(',')
				}
				got.WriteString(k + "=" + d.Values[i])
			}
			got.WriteByte(';')
		}
		if got.String() != tc.want {
			t.Errorf("root %s base %q: %q, want %q", tc.root, tc.base, got.String(), tc.want)
		}
	}
}

func TestMerge(t *testing.T) {
	fsys := selectTree()
	var ls []Listing
	for _, root := range []string{"/d/cls=dog", "/d/cls=cat/n=1", "/d/cls=dog/n=1"} {
		l, err := ListDirs(context.Background(), fsys, root, ListOptions{PartitionBase: "/d"})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	m := Merge(ls)
	var got []string
	for _, f := range m.Files {
		d := m.Dirs[f.Dir]
		got = append(got, fmt.Sprintf("%s %v", f.Path, d.Values))
	}
	want := []string{
		"/d/cls=cat/n=1/001.jpg [cat 1]", "/d/cls=cat/n=1/002.png [cat 1]",
		"/d/cls=dog/README.txt [dog]", "/d/cls=dog/n=1/003.jpg [dog 1]", "/d/cls=dog/n=3/004.jpeg [dog 3]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("merged\n got %q\nwant %q", got, want)
	}
	if cols := m.Columns(); fmt.Sprint(cols) != "[{cls string} {n int}]" {
		t.Errorf("columns %v", cols)
	}
}

func TestLimit(t *testing.T) {
	var files []File
	for i := range 1000 {
		files = append(files, File{Path: fmt.Sprintf("/d/%04d.jpg", i)})
	}
	for _, n := range []int{0, 1, 10, 999, 1000, 5000} {
		got := Limit(files, 7, n)
		if len(got) != min(n, len(files)) || !slices.IsSortedFunc(got, func(a, b File) int { return strings.Compare(a.Path, b.Path) }) {
			t.Fatalf("Limit(%d): %d files, sorted %v", n, len(got), slices.IsSortedFunc(got, func(a, b File) int { return strings.Compare(a.Path, b.Path) }))
		}
	}
	// The n smallest hashes: the same files whatever the input order, a
	// prefix of a larger limit, and all inside any sample holding n files.
	small, big := Limit(files, 7, 10), Limit(files, 7, 100)
	rev := slices.Clone(files)
	slices.Reverse(rev)
	again := Limit(rev, 7, 10)
	slices.SortFunc(again, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(small, again) {
		t.Error("Limit depends on the input order")
	}
	for _, f := range small {
		if !slices.Contains(big, f) {
			t.Errorf("%s in limit 10 but not in limit 100", f.Path)
		}
	}
	var sample []File
	for _, f := range files {
		if Sampled(7, f.Path, 0.1) {
			sample = append(sample, f)
		}
	}
	if len(sample) >= 10 && !slices.Equal(Limit(sample, 7, 10), small) {
		t.Error("sample then limit differs from limit")
	}
	if slices.Equal(Limit(files, 8, 10), small) {
		t.Error("another seed picks the same files")
	}
}

func TestFilterFiles(t *testing.T) {
	l, err := ListDirs(context.Background(), selectTree(), "/d", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cols := l.Columns()
	if fmt.Sprint(cols) != "[{cls string} {n int}]" {
		t.Fatalf("columns %v", cols)
	}
	s := func(v string) Literal { return Literal{Text: v} }
	n := func(v string) Literal { return Literal{Text: v, Number: true} }
	cases := []struct {
		filters []Filter
		want    string // file base names
	}{
		{nil, "005.jpg 001.jpg 002.png 010.JPG README.txt 003.jpg 004.jpeg top.jpg"},
		{[]Filter{{"cls", wire.OpEq, []Literal{s("cat")}}}, "001.jpg 002.png 010.JPG"},
		{[]Filter{{"CLS", wire.OpNe, []Literal{s("cat")}}}, "README.txt 003.jpg 004.jpeg"},
		{[]Filter{{"cls", wire.OpIn, []Literal{s("dog"), s("cow")}}}, "README.txt 003.jpg 004.jpeg"},
		{[]Filter{{"cls", wire.OpIn, nil}}, ""},
		{[]Filter{{"cls", wire.OpIsNull, nil}}, "005.jpg top.jpg"},
		{[]Filter{{"n", wire.OpIsNotNull, nil}}, "005.jpg 001.jpg 002.png 010.JPG 003.jpg 004.jpeg"},
		{[]Filter{{"n", wire.OpGt, []Literal{n("1")}}}, "010.JPG 004.jpeg"},
		{[]Filter{{"n", wire.OpGe, []Literal{s("2")}}}, "010.JPG 004.jpeg"},
		{[]Filter{{"n", wire.OpLt, []Literal{n("1.5")}}}, "005.jpg 001.jpg 002.png 003.jpg"},
		{[]Filter{{"n", wire.OpLe, []Literal{n("10")}}, {"cls", wire.OpEq, []Literal{s("dog")}}}, "003.jpg 004.jpeg"},
		{[]Filter{{"n", wire.OpIn, []Literal{n("3"), n("2.0")}}}, "010.JPG 004.jpeg"},
		{[]Filter{{"cls", wire.OpLt, []Literal{s("d")}}}, "001.jpg 002.png 010.JPG"},
	}
	for _, tc := range cases {
		files, err := FilterFiles(l, cols, tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path[strings.LastIndexByte(f.Path, '/')+1:])
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%v: %q, want %q", tc.filters, strings.Join(got, " "), tc.want)
		}
	}
	for _, bad := range []Filter{{"x", wire.OpEq, []Literal{s("a")}}, {"n", wire.OpEq, []Literal{s("one")}}} {
		if _, err := FilterFiles(l, cols, []Filter{bad}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
