package pipeline

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/wire"
)

// partitionValue is one folder's value of one partition column, parsed
// once per folder rather than once per row.
type partitionValue struct {
	null bool
	i    int64
	f    float64
	s    string
}

// parseDirs types a split's folder values by their columns (validated at
// planning time; a mismatch means an altered or foreign ticket).
func parseDirs(cols []wire.Column, dirs [][]*string, files int) ([][]partitionValue, error) {
	out := make([][]partitionValue, len(dirs))
	for d, vals := range dirs {
		if len(vals) != len(cols) {
			return nil, fmt.Errorf("folder %d has %d partition values for %d columns", d, len(vals), len(cols))
		}
		out[d] = make([]partitionValue, len(cols))
		for ci, v := range vals {
			pv := &out[d][ci]
			if v == nil {
				pv.null = true
				continue
			}
			var err error
			switch cols[ci].Type {
			case "int":
				pv.i, err = strconv.ParseInt(*v, 10, 32)
			case "long":
				pv.i, err = strconv.ParseInt(*v, 10, 64)
			case "double":
				pv.f, err = strconv.ParseFloat(*v, 64)
			default:
				pv.s = *v
			}
			if err != nil {
				return nil, fmt.Errorf("partition %s value %q: %w", cols[ci].Name, *v, err)
			}
		}
	}
	if len(dirs) == 0 && len(cols) > 0 && files > 0 {
		return nil, fmt.Errorf("%d partition columns but no folder values", len(cols))
	}
	return out, nil
}

// append appends v to its column's builder.
func (v partitionValue) append(b array.Builder) {
	if v.null {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.Int32Builder:
		b.Append(int32(v.i))
	case *array.Int64Builder:
		b.Append(v.i)
	case *array.Float64Builder:
		b.Append(v.f)
	case *array.StringBuilder:
		b.Append(v.s)
	}
}
