// Package schema is the Arrow schema of a read's stream, the shape both
// ends of the data flow agree on: the coordinator's planner
// (pkg/planner) announces it in FlightInfo and GetSchema, and the worker's
// pipeline (pkg/pipeline) builds its record batches in it. It holds Spark's
// image struct, the tensor column (Arrow's canonical fixed-shape tensor
// extension type) or a model's columns, the failure column and the
// partition columns.
package schema

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// For is the stream schema: Spark's image struct, the tensor column when
// the pipeline computes one, the failure column when asked for, then one
// nullable column per partition directory key.
func For(cols []wire.Column, p wire.Pipeline) *arrow.Schema {
	fields := []arrow.Field{imagerow.ImageField}
	if p.Tensor != nil && p.Model == nil {
		fields = append(fields, arrow.Field{Name: "tensor", Type: NewTensorType(p.TensorShape[:], p.Tensor.Double), Nullable: true})
	}
	fields = append(fields, modelFields(p)...)
	if p.FailureReasons {
		fields = append(fields, arrow.Field{Name: wire.FailureColumn, Type: arrow.BinaryTypes.String, Nullable: true})
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
