package imagerow

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestBuilderMatchesStructBuilder checks that wrapping a caller-laid-out
// data buffer yields the same array as appending through the builders.
func TestBuilderMatchesStructBuilder(t *testing.T) {
	rows := []Row{
		{Origin: "a", Height: 1, Width: 2, NChannels: 3, Mode: ModeCV8UC3, Data: []byte{1, 2, 3, 4, 5, 6}},
		Invalid("bad"),
		{Origin: "c", Height: 1, Width: 1, NChannels: 1, Mode: ModeCV8UC1, Data: []byte{7}},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sb := array.NewStructBuilder(mem, ImageType)
	defer sb.Release()
	b := NewBuilder(mem)
	defer b.Release()
	for round := 0; round < 2; round++ { // the builder is reusable
		var data []byte
		for i := range rows {
			Append(sb, &rows[i])
			b.Append(&rows[i])
			data = append(data, rows[i].Data...)
		}
		want := sb.NewStructArray()
		buf := memory.NewBufferBytes(data)
		got := b.NewArray(buf)
		buf.Release()
		if !array.Equal(want, got) {
			t.Fatalf("round %d: got %v, want %v", round, got, want)
		}
		for i := range rows {
			if r := At(got, i); string(r.Data) != string(rows[i].Data) || r.Origin != rows[i].Origin {
				t.Fatalf("row %d: %+v", i, r)
			}
		}
		if b.Len() != 0 || b.DataLen() != 0 {
			t.Fatal("builder not reset")
		}
		want.Release()
		got.Release()
	}
}
