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

// Columns infers the partition columns of a listing: names in order of first
// appearance (outermost first), each with the widest type its values need.
func Columns(base string, files []File) []Column {
	var cols []Column
	index := map[string]int{}
	lastDir := ""
	for _, f := range files {
		dir := path.Dir(f.Path)
		if dir == lastDir {
			continue // same directory, same values
		}
		lastDir = dir
		keys, values := PartitionValues(base, f.Path)
		for i, k := range keys {
			t := inferType(values[i])
			j, ok := index[k]
			if !ok {
				index[k] = len(cols)
				cols = append(cols, Column{Name: k, Type: t})
				continue
			}
			if typeRank[t] > typeRank[cols[j].Type] {
				cols[j].Type = t
			}
		}
	}
	return cols
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
