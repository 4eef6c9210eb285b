package imagerow

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ImageType is Spark's image struct in Arrow: origin is nullable, the rest
// are not, exactly as ImageSchema.columnSchema declares them.
var ImageType = arrow.StructOf(
	arrow.Field{Name: "origin", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "height", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "width", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "nChannels", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "mode", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "data", Type: arrow.BinaryTypes.Binary},
)

// ImageField is the nullable top-level column Spark's image source yields.
var ImageField = arrow.Field{Name: "image", Type: ImageType, Nullable: true}

// Append adds r to a builder of ImageType.
func Append(b *array.StructBuilder, r *Row) {
	b.Append(true)
	b.FieldBuilder(0).(*array.StringBuilder).Append(r.Origin)
	b.FieldBuilder(1).(*array.Int32Builder).Append(r.Height)
	b.FieldBuilder(2).(*array.Int32Builder).Append(r.Width)
	b.FieldBuilder(3).(*array.Int32Builder).Append(r.NChannels)
	b.FieldBuilder(4).(*array.Int32Builder).Append(r.Mode)
	b.FieldBuilder(5).(*array.BinaryBuilder).Append(r.Data)
}

// At reads row i of an ImageType array.
func At(a *array.Struct, i int) Row {
	return Row{
		Origin:    a.Field(0).(*array.String).Value(i),
		Height:    a.Field(1).(*array.Int32).Value(i),
		Width:     a.Field(2).(*array.Int32).Value(i),
		NChannels: a.Field(3).(*array.Int32).Value(i),
		Mode:      a.Field(4).(*array.Int32).Value(i),
		Data:      a.Field(5).(*array.Binary).Value(i),
	}
}
