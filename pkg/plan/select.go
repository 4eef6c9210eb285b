package plan

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/imageflight/imageflight/pkg/wire"
)

// Merge combines the listings of several roots into one, sorted by path;
// a file listed under two roots (overlapping paths or globs) is kept once,
// with the partition values of the first root that listed it. Folders are
// renumbered in order of their first file; folders whose files were all
// duplicates stay in Dirs, so Columns still sees their values.
func Merge(ls []Listing) Listing {
	if len(ls) == 1 {
		return ls[0]
	}
	type ref struct {
		f    File
		from int
	}
	var all []ref
	var out Listing
	for i, l := range ls {
		for _, f := range l.Files {
			all = append(all, ref{f, i})
		}
		out.Skipped.Cycles += l.Skipped.Cycles
		out.Skipped.Aliases += l.Skipped.Aliases
		out.Skipped.Irregular += l.Skipped.Irregular
		out.Skipped.Outside += l.Skipped.Outside
	}
	slices.SortStableFunc(all, func(a, b ref) int { return strings.Compare(a.f.Path, b.f.Path) })
	type key struct{ from, dir int32 }
	dirs := map[key]int32{}
	dirOf := func(k key) int32 {
		d, ok := dirs[k]
		if !ok {
			d = int32(len(out.Dirs))
			dirs[k] = d
			out.Dirs = append(out.Dirs, ls[k.from].Dirs[k.dir])
		}
		return d
	}
	for i, r := range all {
		d := dirOf(key{int32(r.from), r.f.Dir})
		if i > 0 && all[i-1].f.Path == r.f.Path {
			continue
		}
		r.f.Dir = d
		out.Files = append(out.Files, r.f)
	}
	return out
}

// Limit keeps n of files: those of smallest hash(seed, path) — the hash
// sampleRatio compares with its ratio, so a limit picks the same files
// whatever the listing order — returned in their original (path) order.
// All files are kept when there are at most n.
func Limit(files []File, seed int64, n int) []File {
	if n >= len(files) {
		return files
	}
	if n <= 0 {
		return nil
	}
	h := &maxHeap{}
	for i, f := range files {
		e := hashed{sampleHash(seed, f.Path), i}
		if h.Len() < n {
			heap.Push(h, e)
		} else if e.less((*h)[0]) {
			(*h)[0] = e
			heap.Fix(h, 0)
		}
	}
	idx := make([]int, len(*h))
	for i, e := range *h {
		idx[i] = e.i
	}
	slices.Sort(idx)
	out := make([]File, len(idx))
	for i, j := range idx {
		out[i] = files[j]
	}
	return out
}

type hashed struct {
	h uint64
	i int
}

// less orders by hash, then by position (paths are unique and sorted).
func (a hashed) less(b hashed) bool { return a.h < b.h || a.h == b.h && a.i < b.i }

// maxHeap keeps the n smallest hashes seen, the largest on top.
type maxHeap []hashed

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[j].less(h[i]) }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(hashed)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Literal is a filter operand: a JSON string's text, or a JSON number as
// written (Number set).
type Literal struct {
	Text   string
	Number bool
}

// Filter is one partition filter: a comparison takes one operand, "in"
// any number, isNull and isNotNull none.
type Filter struct {
	Column string
	Op     string
	Values []Literal
}

// FilterFiles keeps the files whose folder passes every filter, evaluated
// once per folder against its typed partition values (cols, as Columns
// inferred them): int, long and double columns compare numerically,
// string columns by bytes; a null value fails every comparison and "in"
// (SQL's semantics), passing only isNull. Column names match case-
// insensitively. An unknown column, or a non-numeric operand for a numeric
// column, is an error.
func FilterFiles(l Listing, cols []Column, filters []Filter) ([]File, error) {
	if len(filters) == 0 {
		return l.Files, nil
	}
	types := make([]ColumnType, len(filters))
	for i, f := range filters {
		c, err := filterColumn(cols, f)
		if err != nil {
			return nil, err
		}
		types[i] = c.Type
	}
	pass := make([]bool, len(l.Dirs))
	for d := range l.Dirs {
		pass[d] = true
		for i, f := range filters {
			if !f.eval(&l.Dirs[d], types[i]) {
				pass[d] = false
				break
			}
		}
	}
	out := make([]File, 0, len(l.Files))
	for _, f := range l.Files {
		if pass[f.Dir] {
			out = append(out, f)
		}
	}
	return out, nil
}

// filterColumn finds a filter's column and checks its operands' types.
func filterColumn(cols []Column, f Filter) (Column, error) {
	i := slices.IndexFunc(cols, func(c Column) bool { return strings.EqualFold(c.Name, f.Column) })
	if i < 0 {
		names := make([]string, len(cols))
		for j, c := range cols {
			names[j] = c.Name
		}
		return Column{}, fmt.Errorf("filter on %q: no such partition column (columns: %s)", f.Column, strings.Join(names, ", "))
	}
	c := cols[i]
	if c.Type == TypeString {
		return c, nil
	}
	for _, v := range f.Values {
		if _, err := strconv.ParseFloat(v.Text, 64); err != nil {
			return c, fmt.Errorf("filter on %s column %q: %q is not a number", c.Type, c.Name, v.Text)
		}
	}
	return c, nil
}

// eval tells whether folder d passes f.
func (f Filter) eval(d *PartitionDir, t ColumnType) bool {
	v, ok := d.Value(f.Column)
	null := !ok || IsNull(v)
	switch f.Op {
	case wire.OpIsNull:
		return null
	case wire.OpIsNotNull:
		return !null
	}
	if null {
		return false
	}
	if f.Op == wire.OpIn {
		return slices.ContainsFunc(f.Values, func(lit Literal) bool { return compareValue(v, lit, t) == 0 })
	}
	if len(f.Values) != 1 {
		return false
	}
	c := compareValue(v, f.Values[0], t)
	switch f.Op {
	case wire.OpEq:
		return c == 0
	case wire.OpNe:
		return c != 0
	case wire.OpLt:
		return c < 0
	case wire.OpLe:
		return c <= 0
	case wire.OpGt:
		return c > 0
	case wire.OpGe:
		return c >= 0
	}
	return false
}

// compareValue compares a folder's value with an operand under the
// column's type: as integers when both are, else as floats for numeric
// columns, else as strings.
func compareValue(v string, lit Literal, t ColumnType) int {
	if t == TypeString {
		return strings.Compare(v, lit.Text)
	}
	if a, err := strconv.ParseInt(v, 10, 64); err == nil {
		if b, err := strconv.ParseInt(lit.Text, 10, 64); err == nil {
			return cmp.Compare(a, b)
		}
	}
	a, _ := strconv.ParseFloat(v, 64)
	b, _ := strconv.ParseFloat(lit.Text, 64)
	return cmp.Compare(a, b)
}
