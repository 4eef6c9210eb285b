package pipeline

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// TestArenaPlacesInFileOrder: decodes reaching Alloc in any order (within
// the wait) still get consecutive places in file order.
func TestArenaPlacesInFileOrder(t *testing.T) {
	a := newArena(3, 1<<20)
	a.wait = time.Minute // a loaded machine must not turn this into a timeout
	defer a.close()
	const n = 20
	offs := make([]int, n)
	slabs := make([]*slab, n)
	var wg sync.WaitGroup
	for i := 3; i < n; i++ {
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
			slabs[i], offs[i] = a.place(context.Background(), i, 100+i, 0)
		})
	}
	wg.Wait()
	want := 0
	for i := 3; i < n; i++ {
		if slabs[i] != slabs[3] || offs[i] != want {
			t.Fatalf("file %d at %p+%d, want %p+%d", i, slabs[i], offs[i], slabs[3], want)
		}
		want += 100 + i
		slabs[i].unref()
	}
}

// TestArenaTurnTimesOut: a decode whose predecessor never allocates takes
// its own buffer after allocWait, and its turn passes.
func TestArenaTurnTimesOut(t *testing.T) {
	a := newArena(0, 1<<20)
	defer a.close()
	if s, _ := a.place(context.Background(), 1, 10, 0); s != nil {
		t.Fatal("file 1 placed before file 0 passed")
	}
	a.passTurn(0)
	if s, off := a.place(context.Background(), 2, 10, 0); s == nil || off != 0 {
		t.Fatalf("file 2 not placed first after 0 and 1 passed: %v %d", s, off)
	}
}

// TestArenaSlabsEndWithBatches: a slab takes rows while their cost as Run
// counts it fits the batch size, so slabs and batches end together.
func TestArenaSlabsEndWithBatches(t *testing.T) {
	a := newArena(0, 100)
	defer a.close()
	var got []int
	for i := range 5 {
		s, off := a.place(context.Background(), i, 30, 10)
		got = append(got, off) // 0: a new slab (possibly a reused one)
		s.unref()
	}
	if want := []int{0, 30, 0, 30, 0}; !slices.Equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
}

// TestBatcherInPlaceAndCopied: consecutive arena rows share the slab
// range as the data column; a hole after a full batch cuts it; a foreign
// row (not in the arena) joins a small batch by a copy.
func TestBatcherInPlaceAndCopied(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{imagerow.ImageField}, nil)
	b := newBatcher(schema, &wire.Pipeline{}, 1<<20)
	defer b.release()
	a := newArena(0, 4<<20)
	defer a.close()
	row := func(i, n int, inArena bool) decoded {
		ra := &rowAlloc{ctx: context.Background(), i: i}
		if inArena {
			ra.arena = a
		}
		data := ra.alloc(n)
		for j := range data {
			data[j] = byte(i)
		}
		r := imagerow.Row{Origin: "f", Height: 1, Width: int32(n), NChannels: 1, Data: data}
		return decoded{row: r, mem: ra.keep(data), keep: true}
	}
	var got [][]byte
	send := func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
		img := rec.Column(0).(*array.Struct)
		for i := 0; i < img.Len(); i++ {
			got = append(got, bytes.Clone(imagerow.At(img, i).Data))
		}
		return nil
	}
	d0, d1 := row(0, minCopyBatch, true), row(1, 7, true)
	hole := row(2, 6, true) // file 2 failed after its Alloc: a hole
	hole.mem.release()
	d3 := row(3, 3, true)
	foreign := row(4, 4, false)
	for i, d := range []*decoded{&d0, &d1, &d3, &foreign} {
		if !b.fits(d) {
			if i != 2 { // the hole cuts the full batch
				t.Fatalf("row %d does not fit", i)
			}
			if err := b.flush(send, i); err != nil {
				t.Fatal(err)
			}
		}
		b.add(d, nil, int64(len(d.row.Data)))
	}
	if !b.copied || b.end != 3+4 { // small: the foreign row joins by a copy
		t.Fatalf("second batch: copied %v, %d bytes", b.copied, b.end)
	}
	if err := b.flush(send, 5); err != nil {
		t.Fatal(err)
	}
	for i, want := range []byte{0, 1, 3, 4} {
		if len(got[i]) == 0 || !bytes.Equal(got[i], bytes.Repeat([]byte{want}, len(got[i]))) {
			t.Fatalf("row %d: %v", i, got[i])
		}
	}
}
