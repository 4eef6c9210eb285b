package imagerow

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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

// Builder builds an ImageType array whose pixel bytes the caller already
// laid out contiguously, row after row: it records each row's fields and
// length, and NewArray wraps the caller's buffer as the data column, so
// the pixels are not copied into a BinaryBuilder (which would cost a
// memmove of every image and a zeroed allocation per batch).
type Builder struct {
	origin             *array.StringBuilder
	height, width, nch *array.Int32Builder
	mode               *array.Int32Builder
	offsets            []int32
	dataLen            int
}

// NewBuilder returns an empty Builder; Release frees it.
func NewBuilder(mem memory.Allocator) *Builder {
	return &Builder{
		origin: array.NewStringBuilder(mem),
		height: array.NewInt32Builder(mem), width: array.NewInt32Builder(mem),
		nch: array.NewInt32Builder(mem), mode: array.NewInt32Builder(mem),
		offsets: []int32{0},
	}
}

// Append records r; its Data must be the next len(r.Data) bytes of the
// buffer later passed to NewArray.
func (b *Builder) Append(r *Row) {
	b.origin.Append(r.Origin)
	b.height.Append(r.Height)
	b.width.Append(r.Width)
	b.nch.Append(r.NChannels)
	b.mode.Append(r.Mode)
	b.dataLen += len(r.Data)
	b.offsets = append(b.offsets, int32(b.dataLen))
}

// Len is the number of rows appended since the last NewArray.
func (b *Builder) Len() int { return len(b.offsets) - 1 }

// DataLen is the number of pixel bytes appended since the last NewArray.
func (b *Builder) DataLen() int { return b.dataLen }

// NewArray returns the rows appended so far as an ImageType array over
// data, which must hold exactly DataLen bytes (the rows' pixels in order).
// The array takes its own reference to data; the caller keeps (and
// releases) the one it holds. The builder is then empty again.
func (b *Builder) NewArray(data *memory.Buffer) *array.Struct {
	if data.Len() != b.dataLen {
		panic(fmt.Sprintf("imagerow: data buffer of %d bytes for %d bytes of rows", data.Len(), b.dataLen))
	}
	n := b.Len()
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(b.offsets))
	bin := array.NewData(arrow.BinaryTypes.Binary, n, []*memory.Buffer{nil, offs, data}, nil, 0, 0)
	defer bin.Release()
	fields := []arrow.Array{b.origin.NewArray(), b.height.NewArray(), b.width.NewArray(), b.nch.NewArray(), b.mode.NewArray()}
	children := make([]arrow.ArrayData, 0, 6)
	for _, f := range fields {
		children = append(children, f.Data())
		defer f.Release()
	}
	children = append(children, bin)
	st := array.NewData(ImageType, n, []*memory.Buffer{nil}, children, 0, 0)
	defer st.Release()
	// A fresh offsets slice: the old one now backs the array.
	b.offsets, b.dataLen = make([]int32, 1, cap(b.offsets)), 0
	return array.NewStructData(st)
}

// Release frees the builder's own buffers.
func (b *Builder) Release() {
	for _, f := range []array.Builder{b.origin, b.height, b.width, b.nch, b.mode} {
		f.Release()
	}
}
