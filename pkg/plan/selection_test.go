package plan

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/wire"
)

// The descriptor's file selection, tested on an in-memory tree mounted as
// hdfs://mem (Mounts dials it like any HDFS namespace).

const testBase = "hdfs://mem/data"

// selectionFS is a labelled folder — two classes, typed partition values,
// a file beside the partition folders — and a README beside the images.
func selectionFS() *memfs.FS {
	files := map[string][]byte{}
	for _, p := range []string{"/data/cls=cat/n=1/a.png", "/data/cls=cat/n=1/b.png", "/data/cls=cat/n=2/c.png",
		"/data/cls=dog/n=1/d.png", "/data/cls=dog/n=1/e.png", "/data/cls=dog/n=3/f.png", "/data/top.png", "/data/cls=dog/README.txt"} {
		files[p] = []byte("x")
	}
	return memfs.New(files)
}

// testSelector selects from fsys, serving roots (testBase when none).
func testSelector(t testing.TB, fsys hdfsio.FileSystem, roots ...string) *Selector {
	t.Helper()
	if len(roots) == 0 {
		roots = []string{testBase}
	}
	rs, err := hdfsio.ParseRoots(roots)
	if err != nil {
		t.Fatal(err)
	}
	return &Selector{Roots: rs, Confine: hdfsio.LocalConfine(rs), Parallelism: 16,
		Mounts: &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) { return fsys, nil }},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// selectCmd parses a descriptor's JSON and selects its files.
func (sel *Selector) selectCmd(cmd string) (Listing, error) {
	req, err := wire.ParseDescriptor([]byte(cmd))
	if err != nil {
		return Listing{}, err
	}
	_, l, err := sel.Select(context.Background(), req)
	return l, err
}

// summary is "name[values]" per selected file, its partition columns'
// values in column order ("(null)" for none).
func summary(l Listing) string {
	cols := l.Columns()
	var out []string
	for _, f := range l.Files {
		s := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
		var parts []string
		for _, c := range cols {
			v, ok := l.Dirs[f.Dir].Value(c.Name)
			if !ok || IsNull(v) {
				v = "(null)"
			}
			parts = append(parts, c.Name+"="+v)
		}
		if len(parts) > 0 {
			s += "[" + strings.Join(parts, ";") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestSelection(t *testing.T) {
	sel := testSelector(t, selectionFS())
	cases := []struct {
		name, cmd, want string
	}{
		{"path list, each its own base", `{"path": ["hdfs://mem/data/cls=cat/n=1", "hdfs://mem/data/top.png"]}`,
			"a.png b.png top.png"},
		{"glob of files", `{"path": "hdfs://mem/data/cls=*/n=1/*.png"}`,
			"a.png b.png d.png e.png"},
		{"glob with basePath keeps the columns", `{"path": "hdfs://mem/data/cls=*/n=1/*.png", "basePath": "hdfs://mem/data"}`,
			"a.png[cls=cat;n=1] b.png[cls=cat;n=1] d.png[cls=dog;n=1] e.png[cls=dog;n=1]"},
		{"sub-folder with basePath", `{"path": "hdfs://mem/data/cls=cat", "basePath": "hdfs://mem/data"}`,
			"a.png[cls=cat;n=1] b.png[cls=cat;n=1] c.png[cls=cat;n=2]"},
		{"sub-folder alone is its own base", `{"path": "hdfs://mem/data/cls=cat"}`,
			"a.png[n=1] b.png[n=1] c.png[n=2]"},
		{"braces and sets", `{"path": "hdfs://mem/data/{cls=cat/n=[2],top.png}"}`,
			"c.png top.png"},
		{"overlapping paths read once", `{"path": ["hdfs://mem/data/cls=cat/n=2", "hdfs://mem/data/cls=cat/n=*"]}`,
			"a.png b.png c.png"},
		{"pathGlobFilter", `{"path": "hdfs://mem/data", "pathGlobFilter": "[a-c].png"}`,
			"a.png[cls=cat;n=1] b.png[cls=cat;n=1] c.png[cls=cat;n=2]"},
		{"fileExtensions drop the README", `{"path": "hdfs://mem/data/cls=dog", "fileExtensions": ["PNG"]}`,
			"d.png[n=1] e.png[n=1] f.png[n=3]"},
		{"fileExtensions with a dot", `{"path": "hdfs://mem/data/cls=dog", "fileExtensions": [".txt", "gif"]}`,
			"README.txt"},
		{"partition filter =", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "cls", "op": "=", "value": "dog"}]}`,
			"README.txt[cls=dog;n=(null)] d.png[cls=dog;n=1] e.png[cls=dog;n=1] f.png[cls=dog;n=3]"},
		{"partition filters, typed and null", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "n", "op": ">", "value": 1}, {"column": "N", "op": "<", "value": 10}]}`,
			"c.png[cls=cat;n=2] f.png[cls=dog;n=3]"},
		{"partition filter isNull", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "cls", "op": "isNull"}]}`,
			"top.png[cls=(null);n=(null)]"},
		{"partition filter in", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "n", "op": "in", "values": [3, 2]}]}`,
			"c.png[cls=cat;n=2] f.png[cls=dog;n=3]"},
		{"limit", `{"path": "hdfs://mem/data/cls=cat", "limit": 2, "seed": 1}`,
			"a.png[n=1] c.png[n=2]"}, // c has the smallest hash, then a
		{"limit after the filter", `{"path": "hdfs://mem/data", "limit": 1, "seed": 1, "partitionFilters": [{"column": "cls", "op": "=", "value": "cat"}]}`,
			"c.png[cls=cat;n=2]"}, // the smallest hash of limit 2
		{"limit zero", `{"path": "hdfs://mem/data", "limit": 0}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := sel.selectCmd(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(l); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestSelectionKeepsTheColumns: partition filters drop files, not the
// columns their folders imply, so the schema does not depend on them.
func TestSelectionKeepsTheColumns(t *testing.T) {
	l, err := testSelector(t, selectionFS()).selectCmd(`{"path": "hdfs://mem/data", "partitionFilters": [{"column": "cls", "op": "=", "value": "cat"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(l); got != "a.png[cls=cat;n=1] b.png[cls=cat;n=1] c.png[cls=cat;n=2]" {
		t.Fatalf("selected %s, want the three cats", got)
	}
	if cols := l.Columns(); len(cols) != 2 || cols[0].Name != "cls" || cols[1].Name != "n" || cols[1].Type != TypeInt {
		t.Errorf("columns %+v, want the unfiltered cls and n (int)", cols)
	}
}

func TestSelectionErrors(t *testing.T) {
	sel := testSelector(t, selectionFS())
	cases := []struct {
		name, cmd string
		kind      wire.Kind
		key, msg  string
	}{
		{"glob matching nothing", `{"path": "hdfs://mem/data/cls=*/n=9/*"}`, wire.KindNotFound, "", "hdfs://mem/data/cls=*/n=9/* matches no"},
		{"one path missing", `{"path": ["hdfs://mem/data/cls=cat", "hdfs://mem/data/nope"]}`, wire.KindNotFound, "", "nope does not exist"},
		{"outside the roots", `{"path": ["hdfs://mem/data/cls=cat", "hdfs://mem/other"]}`, wire.KindPermission, "", "hdfs://mem/other is outside the served roots"},
		{"glob above the roots", `{"path": "hdfs://mem/*/cls=cat"}`, wire.KindPermission, "", "outside the served roots"},
		{"two filesystems", `{"path": ["hdfs://mem/data/a", "hdfs://other/data/b"]}`, wire.KindInvalidArgument, "path", "one filesystem"},
		{"path not under basePath", `{"path": "hdfs://mem/data/cls=cat", "basePath": "hdfs://mem/data/cls=dog"}`, wire.KindInvalidArgument, "basePath", "not under basePath"},
		{"basePath on another filesystem", `{"path": "hdfs://mem/data/cls=cat", "basePath": "/data"}`, wire.KindInvalidArgument, "basePath", "filesystem"},
		{"filter on no column", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "size", "op": "=", "value": 1}]}`, wire.KindInvalidArgument, "partitionFilters", "no such partition column"},
		{"string for a numeric column", `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "n", "op": "=", "value": "one"}]}`, wire.KindInvalidArgument, "partitionFilters", "not a number"},
		{"dot-dot in braces", `{"path": "hdfs://mem/data/{a,../x}"}`, wire.KindInvalidArgument, "path", "'..'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sel.selectCmd(tc.cmd)
			var de *wire.DescriptorError
			switch {
			case err == nil:
				t.Fatal("selected")
			case wire.KindOf(err) != tc.kind:
				t.Fatalf("kind %v (%v), want %v", wire.KindOf(err), err, tc.kind)
			case tc.key != "" && (!errors.As(err, &de) || de.Key != tc.key):
				t.Fatalf("%v does not name key %q", err, tc.key)
			case !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("%q does not say %q", err, tc.msg)
			}
		})
	}
}
