package plan

import (
	"net/url"
	"path"
	"strconv"
	"strings"
)

// ColumnType is the inferred type of a partition column, as Spark infers
// it from directory names (dates and timestamps stay strings here).
type ColumnType string

// Column types in widening order: a column takes the widest type any of its
// values needs.
const (
	TypeInt    ColumnType = "int"
	TypeLong   ColumnType = "long"
	TypeDouble ColumnType = "double"
	TypeString ColumnType = "string"
)

var typeRank = map[ColumnType]int{TypeInt: 0, TypeLong: 1, TypeDouble: 2, TypeString: 3}

// Column is a partition column discovered from key=value directories.
type Column struct {
	Name string     `json:"name"`
	Type ColumnType `json:"type"`
}

// nullPartition is Hive's and Spark's marker for a null partition value.
const nullPartition = "__HIVE_DEFAULT_PARTITION__"

// PartitionValues returns the key=value directories between base and file,
// outermost first, unescaped as Spark does (IsNull tells Hive's null marker).
func PartitionValues(base, file string) (keys, values []string) {
	dir := path.Dir(file)
	if !strings.HasPrefix(dir, strings.TrimSuffix(base, "/")+"/") {
		return nil, nil
	}
	rel := dir[len(base):]
	for _, seg := range strings.Split(rel, "/") {
		i := strings.IndexByte(seg, '=')
		if i <= 0 {
			continue
		}
		k, v := seg[:i], seg[i+1:]
		if u, err := url.PathUnescape(k); err == nil {
			k = u
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		keys = append(keys, k)
		values = append(values, v)
	}
	return keys, values
}

// IsNull reports whether a partition value stands for null.
func IsNull(v string) bool { return v == nullPartition }

// ImageColumn is the name of the image struct column every row has.
//
// A partition directory with this key ("image=5") is not made a column:
// Spark would let the partition replace the data column of the same name,
// which for an image reader means losing the pixels to a directory name. A
// user reading images expects the image struct, so it wins; the files under
// such directories are still read, without that value.
const ImageColumn = "image"

// Columns infers the partition columns of a listing: names in order of first
// appearance (outermost first), each with the widest type its values need.
//
// Names are compared case-insensitively, as Spark does by default
// (spark.sql.caseSensitive=false): "a=1" and "A=2" make one column, named
// as first seen. A key equal to ImageColumn is left out (see ImageColumn).
func Columns(base string, files []File) []Column {
	var cs columnSet
	lastDir := ""
	for _, f := range files {
		dir := path.Dir(f.Path)
		if dir == lastDir {
			continue // same directory, same values
		}
		lastDir = dir
		keys, values := PartitionValues(base, f.Path)
		cs.add(keys, values)
	}
	return cs.cols
}

// Columns infers the partition columns of a listing from its directory
// table, as Columns(base, l.Files) does but once per directory.
func (l *Listing) Columns() []Column {
	var cs columnSet
	for i := range l.Dirs {
		cs.add(l.Dirs[i].Keys, l.Dirs[i].Values)
	}
	return cs.cols
}

// columnSet accumulates partition columns keyed case-insensitively.
type columnSet struct {
	cols  []Column
	index map[string]int
}

func (cs *columnSet) add(keys, values []string) {
	for i, k := range keys {
		if strings.EqualFold(k, ImageColumn) {
			continue
		}
		t := inferType(values[i])
		lk := strings.ToLower(k)
		j, ok := cs.index[lk]
		if !ok {
			if cs.index == nil {
				cs.index = map[string]int{}
			}
			cs.index[lk] = len(cs.cols)
			cs.cols = append(cs.cols, Column{Name: k, Type: t})
			continue
		}
		if typeRank[t] > typeRank[cs.cols[j].Type] {
			cs.cols[j].Type = t
		}
	}
}

// PartitionDir is one listed directory's partition values, parsed once.
type PartitionDir struct {
	Path string // the directory
	// Keys and Values are the key=value segments between the listing root
	// and Path, outermost first, unescaped (IsNull tells Hive's null
	// marker): what PartitionValues returns for a file in Path.
	Keys   []string
	Values []string
}

// Value returns the value of partition column col for files in d (see
// PartitionValue); ok is false when d has no such key and the row's value
// is null.
func (d *PartitionDir) Value(col string) (v string, ok bool) {
	return PartitionValue(d.Keys, d.Values, col)
}

// PartitionValue finds column col among keys (as PartitionValues returns
// them): the innermost key equal to col case-insensitively, since Columns
// merges spellings; ok is false when there is none.
func PartitionValue(keys, values []string, col string) (v string, ok bool) {
	for i := len(keys) - 1; i >= 0; i-- {
		if strings.EqualFold(keys[i], col) {
			return values[i], true
		}
	}
	return "", false
}

func inferType(v string) ColumnType {
	if IsNull(v) {
		return TypeInt // null fits any type
	}
	if _, err := strconv.ParseInt(v, 10, 32); err == nil {
		return TypeInt
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return TypeLong
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXnN") {
		return TypeDouble
	}
	return TypeString
}
