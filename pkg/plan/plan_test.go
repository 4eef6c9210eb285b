package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

func TestSampledIsReproducibleAndUnbiased(t *testing.T) {
	const n = 20000
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("/data/cls=%d/img_%06d.jpg", i%7, i)
	}
	for _, ratio := range []float64{0, 0.01, 0.1, 0.5, 0.9, 1} {
		pick := func(order []string, seed int64) map[string]bool {
			out := map[string]bool{}
			for _, p := range order {
				if Sampled(seed, p, ratio) {
					out[p] = true
				}
			}
			return out
		}
		a := pick(paths, 42)
		shuffled := append([]string(nil), paths...)
		rand.New(rand.NewSource(1)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if b := pick(shuffled, 42); !reflect.DeepEqual(a, b) {
			t.Errorf("ratio %v: sample depends on listing order", ratio)
		}
		// Binomial: 5 standard deviations is a bound this test never hits by chance.
		sd := math.Sqrt(n * ratio * (1 - ratio))
		if got := float64(len(a)); math.Abs(got-n*ratio) > 5*sd+0.5 {
			t.Errorf("ratio %v: sampled %v of %d, want %v ± %.0f", ratio, got, n, n*ratio, 5*sd)
		}
		if ratio > 0 && ratio < 1 {
			if c := pick(paths, 43); reflect.DeepEqual(a, c) {
				t.Errorf("ratio %v: seeds 42 and 43 chose the same files", ratio)
			}
		}
	}
}

func TestCut(t *testing.T) {
	mk := func(sizes ...int64) []File {
		fs := make([]File, len(sizes))
		for i, s := range sizes {
			fs[i] = File{Path: fmt.Sprintf("/f%03d", i), Size: s}
		}
		return fs
	}
	rng := rand.New(rand.NewSource(3))
	random := make([]int64, 500)
	for i := range random {
		random[i] = 10_000 + rng.Int63n(2_000_000)
	}
	tests := []struct {
		name   string
		files  []File
		n      int
		splits int
	}{
		{"even", mk(100e3, 100e3, 100e3, 100e3), 2, 2},
		{"more splits than files", mk(100e3, 100e3), 5, 2},
		{"one big file first", mk(10e6, 10e3, 10e3, 10e3, 10e3), 3, 3},
		{"exact N", mk(random...), 64, 64},
		{"single", mk(random...), 1, 1},
		{"empty", nil, 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			splits := Cut(tc.files, tc.n)
			if len(splits) != tc.splits {
				t.Fatalf("%d splits, want %d", len(splits), tc.splits)
			}
			var all []File
			for i, s := range splits {
				if len(s.Files) == 0 || s.Index != i {
					t.Errorf("split %d: %d files, index %d", i, len(s.Files), s.Index)
				}
				all = append(all, s.Files...)
			}
			if len(tc.files) > 0 && !reflect.DeepEqual(all, tc.files) {
				t.Error("splits do not cover the listing exactly once, in order")
			}
			if !reflect.DeepEqual(splits, Cut(tc.files, tc.n)) {
				t.Error("cut is not deterministic")
			}
		})
	}
	// Balance: on many similar files, no split strays far from the mean.
	splits := Cut(mk(random...), 16)
	var total int64
	for _, s := range splits {
		total += s.Bytes
	}
	mean := float64(total) / 16
	for _, s := range splits {
		if math.Abs(float64(s.Bytes)-mean) > 0.15*mean {
			t.Errorf("split %d has %d bytes, mean %.0f", s.Index, s.Bytes, mean)
		}
	}
}

func TestListSkipsHiddenAndFollowsPartitions(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{
		"a.jpg", ".hidden.jpg", "_SUCCESS", "x.jpg._COPYING_",
		"cls=cat/c1.png", "cls=cat/.DS_Store", "_tmp/t.jpg", "_k=v/kv.jpg",
		"plain/p.jpg", "plain/deeper/q.jpg", "cls=dog/split=train/d1.jpg",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		recursive bool
		want      []string
	}{
		{false, []string{"_k=v/kv.jpg", "a.jpg", "cls=cat/c1.png", "cls=dog/split=train/d1.jpg"}},
		{true, []string{"_k=v/kv.jpg", "a.jpg", "cls=cat/c1.png", "cls=dog/split=train/d1.jpg", "plain/deeper/q.jpg", "plain/p.jpg"}},
	}
	for _, tc := range tests {
		files, err := List(context.Background(), hdfsio.Local{}, root, ListOptions{Recursive: tc.recursive, Parallelism: 2})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			rel, _ := filepath.Rel(root, f.Path)
			got = append(got, filepath.ToSlash(rel))
		}
		if !sort.StringsAreSorted(got) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("recursive=%v: got %v, want %v", tc.recursive, got, tc.want)
		}
	}
	if _, err := List(context.Background(), hdfsio.Local{}, root+"/missing", ListOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v, want fs.ErrNotExist", err)
	}
	files, err := List(context.Background(), hdfsio.Local{}, root+"/a.jpg", ListOptions{})
	if err != nil || len(files) != 1 || files[0].Path != root+"/a.jpg" {
		t.Errorf("single file root: %v %v", files, err)
	}
}

func TestColumns(t *testing.T) {
	files := []File{
		{Path: "/d/cls=cat/year=2019/a.jpg"},
		{Path: "/d/cls=dog/year=2020/b.jpg"},
		{Path: "/d/cls=dog/year=5000000000/c.jpg"},
		{Path: "/d/cls=x%3Dy/year=__HIVE_DEFAULT_PARTITION__/d.jpg"},
		{Path: "/d/cls=1.5/e.jpg"},
	}
	got := Columns("/d", files)
	want := []Column{{"cls", TypeString}, {"year", TypeLong}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %v, want %v", got, want)
	}
	keys, vals := PartitionValues("/d", "/d/cls=x%3Dy/year=__HIVE_DEFAULT_PARTITION__/d.jpg")
	if !reflect.DeepEqual(keys, []string{"cls", "year"}) || vals[0] != "x=y" || !IsNull(vals[1]) {
		t.Errorf("PartitionValues = %v %v", keys, vals)
	}
	if k, _ := PartitionValues("/d/cls=a/x.jpg", "/d/cls=a/x.jpg"); k != nil {
		t.Errorf("a single-file base has no partitions, got %v", k)
	}
}

func TestAssign(t *testing.T) {
	workers := []Worker{{Name: "w1", Host: "h1", Capacity: 2}, {Name: "w2", Host: "h2", Capacity: 2}, {Name: "w3", Host: "h3", Capacity: 2}}
	var files []File
	for i := 0; i < 90; i++ {
		files = append(files, File{Path: fmt.Sprintf("/d/%03d.jpg", i), Size: 1e5})
	}
	splits := Cut(files, 30)
	locs := Assign(splits, workers, nil, 2)
	load := map[int]int{}
	for i, l := range locs {
		if len(l) != 2 || l[0] == l[1] {
			t.Fatalf("split %d: locations %v, want 2 distinct", i, l)
		}
		load[l[0]]++
	}
	for w, n := range load {
		if n > 10 {
			t.Errorf("worker %d preferred for %d of 30 splits, want at most its share of 10", w, n)
		}
	}
	if !reflect.DeepEqual(locs, Assign(splits, workers, nil, 2)) {
		t.Error("assignment is not stable")
	}
	// Locality: the worker on the host holding a split's bytes comes first,
	// as long as it is within its share.
	local := []map[string]int64{{"h3": 5, "h1": 1}, {"h1": 9}, {"h2": 3}}
	locs = Assign(splits[:3], workers, local, 3)
	for i, wantW := range []int{2, 0, 1} {
		if locs[i][0] != wantW {
			t.Errorf("split %d prefers worker %d, want the data-local worker %d", i, locs[i][0], wantW)
		}
	}
	if locs[0][1] != 0 {
		t.Errorf("split 0's first alternate is worker %d, want w1 (holds some of its bytes)", locs[0][1])
	}
}
