package flight

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/wire"
)

// selectionRig is the test tree plus a README beside the images.
func selectionRig(t *testing.T) *rig {
	files := testTree(t)
	files["/data/cls=dog/README.txt"] = []byte("not an image either")
	return newRig(t, files, DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
}

// summary is "name[parts]" per row, the parts' values only.
func summary(rows []row) string {
	var out []string
	for _, r := range rows {
		s := r.Origin[strings.LastIndexByte(r.Origin, '/')+1:]
		if r.Parts != "" {
			s += "[" + strings.TrimSuffix(r.Parts, ";") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestSelection(t *testing.T) {
	r := selectionRig(t)
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
			got := summary(r.readAll(t, r.plan(t, tc.cmd)))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSelectionKeepsTheSchemaAndPrunesReads(t *testing.T) {
	r := selectionRig(t)
	info := r.plan(t, `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "cls", "op": "=", "value": "cat"}]}`)
	if info.GetTotalRecords() != 3 {
		t.Fatalf("%d records, want 3", info.GetTotalRecords())
	}
	sch := r.work.mustSchema(t, info)
	if sch.NumFields() != 3 || sch.Field(1).Name != "cls" || sch.Field(2).Name != "n" {
		t.Errorf("schema %s, want the unfiltered columns", sch)
	}
	r.readAll(t, info)
	for p, want := range map[string]int{"/data/cls=cat/n=1/a.png": 1, "/data/cls=dog/n=1/d.png": 0, "/data/top.png": 0} {
		if got := r.fs.Opens(p); got != want {
			t.Errorf("%s opened %d times, want %d", p, got, want)
		}
	}
}

func TestSelectionErrors(t *testing.T) {
	r := selectionRig(t)
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
			_, err := r.coord.GetFlightInfo(context.Background(), descriptor(tc.cmd))
			var de *wire.DescriptorError
			switch {
			case err == nil:
				t.Fatal("planned")
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
