// Package flight serves imageflight over Apache Arrow Flight. The
// coordinator side answers GetFlightInfo with one endpoint per split, each
// carrying a signed ticket and the workers that can serve it, preferred
// first; the worker side answers DoGet by reading, decoding and streaming
// the split's rows in Spark's image schema. One process may run both (the
// standalone mode). Arrow's own flight package is imported as aflight.
package flight

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/plan"
)

// Schema is the stream schema: Spark's image struct, then one nullable
// column per partition directory key.
func Schema(cols []plan.Column) *arrow.Schema {
	fields := []arrow.Field{imagerow.ImageField}
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

func arrowType(t plan.ColumnType) arrow.DataType {
	switch t {
	case plan.TypeInt:
		return arrow.PrimitiveTypes.Int32
	case plan.TypeLong:
		return arrow.PrimitiveTypes.Int64
	case plan.TypeDouble:
		return arrow.PrimitiveTypes.Float64
	}
	return arrow.BinaryTypes.String
}

// appendPartition appends one partition value (already validated against
// its inferred type at planning time) to b.
func appendPartition(b array.Builder, v string, null bool) error {
	if null {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v)
		return nil
	default:
		if err := b.AppendValueFromString(v); err != nil {
			return fmt.Errorf("partition value %q: %w", v, err)
		}
		return nil
	}
}
