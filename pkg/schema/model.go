package schema

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/imageflight/imageflight/pkg/wire"
)

// modelFields are the columns a model adds (docs/models.md): fixed-shape
// tensors for fetched and softmax columns, a double per argmax one.
func modelFields(p wire.Pipeline) []arrow.Field {
	if p.ModelPlan == nil {
		return nil
	}
	fields := make([]arrow.Field, len(p.ModelPlan.Columns))
	for i, c := range p.ModelPlan.Columns {
		var t arrow.DataType = arrow.PrimitiveTypes.Float64
		if len(c.Shape) > 0 {
			t = NewTensorType(c.Shape, c.Double)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return fields
}
