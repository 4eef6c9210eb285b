package plan

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

func TestColumnsSparkNames(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  []Column
	}{
		{"case variants are one column, first spelling in path order wins",
			[]string{"/d/A=2/y.jpg", "/d/a=1/x.jpg", "/d/a=x/z.jpg"}, []Column{{"A", TypeString}}},
		{"case variants in one path",
			[]string{"/d/Cls=1/cls=2/x.jpg"}, []Column{{"Cls", TypeInt}}},
		{"image key leaves the image column alone",
			[]string{"/d/image=5/x.jpg", "/d/IMAGE=6/y=1/z.jpg"}, []Column{{"y", TypeInt}}},
		{"escaped image key too", []string{"/d/imag%65=5/x.jpg"}, nil},
		{"images is not image", []string{"/d/images=5/x.jpg"}, []Column{{"images", TypeInt}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var files []File
			for _, p := range tc.paths {
				files = append(files, File{Path: p})
			}
			if got := Columns("/d", files); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Columns = %v, want %v", got, tc.want)
			}
			l, err := ListDirs(listCtx(t), treeFS(tc.paths...), "/d", ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Columns(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Listing.Columns = %v, want %v", got, tc.want)
			}
		})
	}
	// A row's value for a merged column is its innermost spelling's.
	for _, tc := range []struct {
		path, col, want string
		ok              bool
	}{
		{"/d/a=1/x.jpg", "a", "1", true},
		{"/d/A=2/x.jpg", "a", "2", true},
		{"/d/a=1/A=2/x.jpg", "a", "2", true},
		{"/d/b=1/x.jpg", "a", "", false},
	} {
		k, v := PartitionValues("/d", tc.path)
		dir := PartitionDir{Keys: k, Values: v}
		if got, ok := dir.Value(tc.col); got != tc.want || ok != tc.ok {
			t.Errorf("%s: value of %s = %q %v, want %q %v", tc.path, tc.col, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCutHugeN(t *testing.T) {
	mk := func(n int) []File {
		files := make([]File, n)
		for i := range files {
			files[i] = File{Path: fmt.Sprintf("/d/%07d.jpg", i), Size: 1000}
		}
		return files
	}
	small, big := mk(1000), mk(MaxPartitions+5)
	tests := []struct {
		files []File
		n     int
		want  int
	}{
		{small, 1e9, 1000},
		{small, math.MaxInt, 1000},
		{big, 1e9, MaxPartitions},
		{big, MaxPartitions - 1, MaxPartitions - 1},
		{small, -5, 1},
		{small, math.MinInt, 1},
		{nil, 5, 0},
	}
	for _, tc := range tests {
		var splits []Split
		// Cost follows the files, not n: one allocation (the split slice).
		allocs := testing.AllocsPerRun(2, func() { splits = Cut(tc.files, tc.n) })
		if len(splits) != tc.want || allocs > 1 {
			t.Errorf("Cut(%d files, %d): %d splits, %v allocs; want %d, ≤1", len(tc.files), tc.n, len(splits), allocs, tc.want)
		}
	}
}

func TestCapacityIsBounded(t *testing.T) {
	var files []File
	for i := range 200 {
		files = append(files, File{Path: fmt.Sprintf("/d/%03d.jpg", i), Size: 1e5})
	}
	tests := []struct {
		name    string
		caps    []int
		perSlot int
		want    int // DefaultPartitions
	}{
		{"huge claim", []int{4611686018427387904, 2}, 4, (MaxWorkerCapacity + 2) * 4},
		{"max int twice", []int{math.MaxInt, math.MaxInt}, math.MaxInt, MaxPartitions},
		{"negative", []int{-1 << 62, 0}, 4, 8},
		{"normal", []int{4, 4}, 4, 32},
		{"none", nil, 4, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var workers []Worker
			for i, c := range tc.caps {
				workers = append(workers, Worker{Name: fmt.Sprintf("w%d", i), Capacity: c})
			}
			n := DefaultPartitions(workers, tc.perSlot)
			if n != tc.want {
				t.Fatalf("DefaultPartitions = %d, want %d", n, tc.want)
			}
			splits := Cut(files, n)
			locs := Assign(splits, workers, nil, 2)
			if len(locs) != len(splits) || len(splits) == 0 {
				t.Fatalf("%d locations for %d splits", len(locs), len(splits))
			}
			load := make([]int, len(workers))
			for i, l := range locs {
				if len(workers) > 0 && len(l) == 0 {
					t.Fatalf("split %d has no worker", i)
				}
				if len(l) > 0 {
					load[l[0]]++
				}
			}
			// Every worker is credited at least 1 slot and at most
			// MaxWorkerCapacity, so the small one keeps its share.
			if len(workers) == 2 && tc.caps[1] == 2 {
				share := len(splits) * 2 / (MaxWorkerCapacity + 2)
				if load[0] < len(splits)-share-1 {
					t.Errorf("loads %v: the huge worker got less than its clamped share", load)
				}
			}
		})
	}
}
