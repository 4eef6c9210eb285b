package plan

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/wire"
)

// TestLinkedNamesPlannedOnce selects from local trees where links give one folder
// several names: each file is planned once, and the 16-level glob through
// a link loop (before: 65,536 rows of one file and minutes of coordinator
// CPU) matches nothing.
func TestLinkedNamesPlannedOnce(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"real/x.png", "real/sub/y.png", "cyc/z.png"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"a1": "real", "a2": "real", "cyc/a": ".", "cyc/b": "."} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	d := filepath.ToSlash(dir)
	sel := testSelector(t, nil, d)
	tests := []struct {
		name  string
		paths []string
		want  []string  // relative to dir
		kind  wire.Kind // the failure's kind, when want is nil
	}{
		{name: "glob matching two names of one folder", paths: []string{d + "/a?"}, want: []string{"a1/sub/y.png", "a1/x.png"}},
		{name: "two names of one folder", paths: []string{d + "/a2", d + "/real", d + "/a1"}, want: []string{"a2/sub/y.png", "a2/x.png"}},
		{name: "a glob and a name of the same folder", paths: []string{d + "/real", d + "/a*"}, want: []string{"real/sub/y.png", "real/x.png"}},
		{name: "16 levels through a link loop", paths: []string{d + "/cyc/" + strings.Repeat("*/", 16) + "*.png"}, kind: wire.KindNotFound},
		{name: "a link loop below a glob", paths: []string{d + "/cyc*"}, want: []string{"cyc/z.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // liveness only
			defer cancel()
			_, l, err := sel.Select(ctx, wire.Descriptor{Paths: tc.paths, Recursive: true, SampleRatio: 1})
			if (tc.want == nil) != (err != nil) || (err != nil && wire.KindOf(err) != tc.kind) {
				t.Fatalf("%v, want files %q or kind %v", err, tc.want, tc.kind)
			}
			var got []string
			for _, f := range l.Files {
				got = append(got, strings.TrimPrefix(f.Path, d+"/"))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("planned %d files %.200q, want %q", len(got), got, tc.want)
			}
		})
	}
}

// TestGlobBoundedLikeAWalk: a glob deeper than a walk may go is refused
// as ResourceExhausted naming the pattern, before any listing.
func TestGlobBoundedLikeAWalk(t *testing.T) {
	pattern := testBase + "/" + strings.Repeat("*/", 65) + "*.png"
	_, err := testSelector(t, selectionFS()).selectCmd(`{"path": "` + pattern + `"}`)
	if wire.KindOf(err) != wire.KindResourceExhausted || !strings.Contains(err.Error(), strings.TrimPrefix(pattern, "hdfs://mem")) {
		t.Errorf("%v, want ResourceExhausted naming the pattern", err)
	}
}
