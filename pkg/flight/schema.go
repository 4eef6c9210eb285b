// Package flight serves imageflight over Apache Arrow Flight. The
// coordinator side answers GetFlightInfo with one endpoint per split, each
// carrying a signed ticket and the workers that can serve it, preferred
// first; the worker side answers DoGet by reading, decoding and streaming
// the split's rows in Spark's image schema. One process may run both (the
// standalone mode). The logic returns errors with a wire kind; Service, the
// gRPC edge, maps them to status codes. Arrow's own flight package is
// imported as aflight.
package flight

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// Schema is the stream schema: Spark's image struct, the tensor column when
// the pipeline computes one, the failure column when asked for, then one
// nullable column per partition directory key.
func Schema(cols []wire.Column, p wire.Pipeline) *arrow.Schema {
	fields := []arrow.Field{imagerow.ImageField}
	if p.Tensor != nil {
		fields = append(fields, arrow.Field{Name: "tensor", Type: NewTensorType(p.TensorShape[:], p.Tensor.Double), Nullable: true})
	}
	if p.FailureReasons {
		fields = append(fields, failureField)
	}
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

func arrowType(t string) arrow.DataType {
	switch t {
	case "int":
		return arrow.PrimitiveTypes.Int32
	case "long":
		return arrow.PrimitiveTypes.Int64
	case "double":
		return arrow.PrimitiveTypes.Float64
	}
	return arrow.BinaryTypes.String
}

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
