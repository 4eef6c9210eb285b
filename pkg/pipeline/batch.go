package pipeline

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// batchRows counts rows with pixels by how they reached their batch:
// "in_place" rows were decoded where the batch sends them from, "copied"
// rows were copied once into the batch (transformed images, decodes that
// missed their turn in the arena).
var batchRows = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "imageflight_batch_rows_total",
	Help: "Rows with pixels put into record batches, by placement (in_place, copied).",
}, []string{"placement"})

// batcher builds record batches of image rows and partition values. The
// data column is never built through a BinaryBuilder: a batch's pixels are
// either a range of an arena slab, where consecutive rows were decoded in
// place, or a slab of the batch's own that rows are copied into once
// (fits decides when a row that cannot continue the range cuts the batch).
type batcher struct {
	schema  *arrow.Schema
	img     *imagerow.Builder
	rest    *array.RecordBuilder // tensor and partition columns; nil if none
	tensor  array.Builder        // nil without a tensor column
	model   *modelBatch          // runs the model when a batch is cut; nil without one
	failure *array.StringBuilder // nil without a failure column
	parts   int                  // index in rest of the first partition column
	size    int                  // bytes of a batch's own slab

	data       *slab // the batch's pixels (one reference held), nil if none yet
	start, end int   // the batch's range of data.buf
	copied     bool  // data is the batch's own slab
	rows       int
	bytes      int64
	// onFree runs when the batch's pixels are freed: after the gRPC
	// transport wrote them, not when send returned.
	onFree func()
}

func newBatcher(schema *arrow.Schema, pipe *wire.Pipeline, batchBytes int64) *batcher {
	b := &batcher{schema: schema, img: imagerow.NewBuilder(memory.DefaultAllocator), size: int(min(batchBytes, 64<<20))}
	if fields := schema.Fields()[1:]; len(fields) > 0 {
		b.rest = array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	}
	if pipe.Tensor != nil && pipe.Model == nil {
		b.tensor, b.parts = b.rest.Field(b.parts), b.parts+1
	}
	if pipe.ModelPlan != nil {
		b.parts += len(pipe.ModelPlan.Columns) // useModel fills them
	}
	if pipe.FailureReasons {
		b.failure, b.parts = b.rest.Field(b.parts).(*array.StringBuilder), b.parts+1
	}
	return b
}

// minCopyBatch is how many pixel bytes a batch holds before a row that
// would change its mode (a copied row after in-place ones, or an in-place
// row after copied ones) cuts it rather than join it by a copy: copies
// stay bounded after each row that missed its place, and batches do not
// shrink to a row each when such rows come often.
const minCopyBatch = 1 << 20

// fits reports whether d can join the batch without a flush first: it
// adds no pixels, or sits right after the batch's in-place range, or is
// copied into a batch that copies anyway or is still small.
func (b *batcher) fits(d *decoded) bool {
	switch {
	case b.data == nil || len(d.row.Data) == 0:
		return true
	case b.copied:
		return !d.mem.inArena || b.end-b.start < minCopyBatch
	case b.inPlace(d):
		return true
	}
	return b.end-b.start < minCopyBatch
}

// inPlace reports whether d continues the batch's in-place range.
func (b *batcher) inPlace(d *decoded) bool {
	return !b.copied && d.mem.inArena && d.mem.s == b.data && d.mem.off == b.end
}

func (b *batcher) add(d *decoded, parts []partitionValue, size int64) {
	b.place(d)
	b.img.Append(&d.row)
	if b.tensor != nil {
		appendTensor(b.tensor, d.tensor)
	}
	if b.model != nil {
		b.model.add(d.tensor)
	}
	if b.failure != nil {
		if d.row.Valid() {
			b.failure.AppendNull()
		} else {
			b.failure.Append(d.failure)
		}
	}
	for i, v := range parts {
		v.append(b.rest.Field(b.parts + i))
	}
	b.bytes += size
	b.rows++
}

// place puts d's pixels at the end of the batch's data, in place when it
// can, and takes over or releases d's memory.
func (b *batcher) place(d *decoded) {
	n := len(d.row.Data)
	switch {
	case n == 0:
		d.mem.release()
		return
	case d.mem.inArena && b.data == nil:
		b.data, b.start, b.end = d.mem.s, d.mem.off, d.mem.off+n
		d.mem = rowMem{} // the row's reference is now the batch's
		batchRows.WithLabelValues("in_place").Inc()
		return
	case b.inPlace(d):
		b.end += n
		d.mem.release()
		batchRows.WithLabelValues("in_place").Inc()
		return
	}
	b.reserve(n)
	copy(b.data.buf[b.end:], d.row.Data)
	b.end += n
	d.mem.release()
	batchRows.WithLabelValues("copied").Inc()
}

// reserve makes the batch's own slab hold n more bytes, moving what it
// has when it must (a batch grown past its size, or a small in-place
// range turning into a copied batch).
func (b *batcher) reserve(n int) {
	if b.copied && b.end+n <= len(b.data.buf) {
		return
	}
	s := getSlab(max(b.size, 2*(b.end-b.start)+n))
	if b.data != nil {
		copy(s.buf, b.data.buf[b.start:b.end])
		b.data.unref()
	}
	b.data, b.end, b.start, b.copied = s, b.end-b.start, 0, true
}

func (b *batcher) flush(send SendFunc, next int) error {
	if b.model != nil {
		if err := b.model.run(); err != nil {
			return err
		}
	}
	rec := b.record()
	defer rec.Release()
	if err := send(rec, wire.BatchMeta{Next: next}); err != nil {
		return wire.Wrap(wire.AutoKind, err, "send batch")
	}
	return nil
}

// record cuts the batch: its data buffer takes the batch's slab reference,
// so the slab goes back to the pool when the record is released by the
// sender and by the gRPC transport.
func (b *batcher) record() arrow.RecordBatch {
	data := memory.NewBufferBytes(nil)
	if b.data != nil {
		data = newDataBuffer(b.data, b.start, b.end, b.onFree)
	} else if b.onFree != nil {
		b.onFree() // no pixels to wait for
	}
	b.onFree = nil
	img := b.img.NewArray(data)
	data.Release()
	defer img.Release()
	cols := []arrow.Array{img}
	if b.rest != nil {
		rest := b.rest.NewRecordBatch()
		defer rest.Release()
		cols = append(cols, rest.Columns()...)
	}
	rec := array.NewRecordBatch(b.schema, cols, int64(b.rows))
	b.data, b.start, b.end, b.copied = nil, 0, 0, false
	b.bytes, b.rows = 0, 0
	return rec
}

func (b *batcher) release() {
	b.img.Release()
	if b.rest != nil {
		b.rest.Release()
	}
	if b.data != nil {
		b.data.unref()
		b.data = nil
	}
	if b.onFree != nil {
		b.onFree()
		b.onFree = nil
	}
}

// appendTensor appends t (nil: null) to a tensor column's builder.
func appendTensor(b array.Builder, t *transform.Tensor) {
	lb := b.(*array.ExtensionBuilder).Builder.(*array.FixedSizeListBuilder)
	if t == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	switch vb := lb.ValueBuilder().(type) {
	case *array.Float32Builder:
		vb.AppendValues(t.F32, nil)
	case *array.Float64Builder:
		vb.AppendValues(t.F64, nil)
	}
}
