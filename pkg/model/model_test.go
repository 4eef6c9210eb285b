package model

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/wire"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadIO(t *testing.T) {
	tests := []struct {
		file string
		want stage.ModelIO
	}{
		{"convnet.onnx", stage.ModelIO{
			Inputs:  []stage.ModelValue{{Name: "x", Elem: stage.ElemFloat, Dims: []int64{-1, 3, 4, 4}}},
			Outputs: []stage.ModelValue{{Name: "features", Elem: stage.ElemFloat, Dims: []int64{-1, 5}}, {Name: "logits", Elem: stage.ElemFloat, Dims: []int64{-1, 4}}}}},
		{"convnet_b1.onnx", stage.ModelIO{
			Inputs:  []stage.ModelValue{{Name: "x", Elem: stage.ElemFloat, Dims: []int64{1, 3, 4, 4}}},
			Outputs: []stage.ModelValue{{Name: "features", Elem: stage.ElemFloat, Dims: []int64{1, 5}}, {Name: "logits", Elem: stage.ElemFloat, Dims: []int64{1, 4}}}}},
		{"meannet.onnx", stage.ModelIO{
			Inputs:  []stage.ModelValue{{Name: "x", Elem: stage.ElemDouble, Dims: []int64{-1, 3, 4, 4}}},
			Outputs: []stage.ModelValue{{Name: "mean", Elem: stage.ElemDouble, Dims: []int64{-1, 3}}}}},
	}
	for _, tc := range tests {
		got, err := ReadIO(readTestdata(t, tc.file))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.file, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, []byte("\xff\xd8\xff\xe0 a JPEG"), []byte("hello, world"), readTestdata(t, "gen_models.py")} {
		if _, err := ReadIO(bad); !errors.Is(err, ErrNotONNX) {
			t.Errorf("ReadIO(%.12q) = %v, want ErrNotONNX", bad, err)
		}
	}
}

func FuzzReadIO(f *testing.F) {
	f.Add(readTestdata(f, "convnet.onnx"))
	f.Add(readTestdata(f, "meannet.onnx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		io, err := ReadIO(b)
		if err == nil && len(io.Outputs) == 0 {
			t.Fatal("a model without outputs was accepted")
		}
	})
}

func TestDerive(t *testing.T) {
	in := []float32{1, 2, 3, 3, -1000, 0, 0, 0}
	sm := make([]float64, 8)
	softmax(in, 2, 4, sm)
	for r := range 2 {
		s := 0.0
		for _, v := range sm[r*4 : r*4+4] {
			s += v
		}
		if math.Abs(s-1) > 1e-15 {
			t.Errorf("row %d sums to %v", r, s)
		}
	}
	if want := math.Exp(3) / (math.Exp(1) + math.Exp(2) + 2*math.Exp(3)); math.Abs(sm[2]-want) > 1e-15 {
		t.Errorf("softmax[2] = %v, want %v", sm[2], want)
	}
	am := make([]float64, 2)
	argmax(in, 2, 4, am)
	if am[0] != 2 || am[1] != 1 { // first of equal maxima, as breeze's argmax
		t.Errorf("argmax = %v, want [2 1]", am)
	}
}

func TestVerify(t *testing.T) {
	data := readTestdata(t, "convnet.onnx")
	if err := Verify(data, "m", int64(len(data)), Digest(data)); err != nil {
		t.Fatal(err)
	}
	other := append([]byte{}, data...)
	other[len(other)-1] ^= 1
	err := Verify(other, "/models/m.onnx", int64(len(data)), Digest(data))
	if wire.KindOf(err) != wire.KindExpired || !strings.Contains(err.Error(), "/models/m.onnx changed since planning") {
		t.Fatalf("changed bytes: %v (kind %v)", err, wire.KindOf(err))
	}
	if _, err := ReadModel(strings.NewReader("0123456789"), "big", 9); wire.KindOf(err) != wire.KindInvalidArgument {
		t.Fatalf("oversized model: %v", err)
	}
}

// fakeRunner is no model: it counts sessions closed for the cache test.
type closeCounter struct{ closed *int }

func (c closeCounter) run(context.Context, Batch, [4]int64, []string) ([]Column, error) {
	return nil, nil
}
func (c closeCounter) close() { *c.closed++ }

func TestCache(t *testing.T) {
	c := NewCache(100)
	closed, loads := 0, 0
	load := func(size int64) func(context.Context) (*Session, error) {
		return func(context.Context) (*Session, error) {
			loads++
			return &Session{Size: size, r: closeCounter{&closed}}, nil
		}
	}
	ctx := context.Background()
	a, relA, err := c.Get(ctx, "a", 60, load(60))
	if err != nil {
		t.Fatal(err)
	}
	a2, relA2, _ := c.Get(ctx, "a", 60, load(60))
	if a2 != a || loads != 1 {
		t.Fatalf("second Get loaded again (%d loads)", loads)
	}
	_, relB, _ := c.Get(ctx, "b", 60, load(60)) // over the bound, but a is in use
	relA()
	relA2() // a idle and the cache over its bound: a closed
	relA2() // a second release is a no-op
	if closed != 1 || c.Len() != 1 {
		t.Fatalf("after releasing a: %d closed, %d held", closed, c.Len())
	}
	relB()
	if closed != 1 || c.Len() != 1 {
		t.Fatalf("b idle within the bound should stay open: %d closed, %d held", closed, c.Len())
	}
	failing := errors.New("no such model")
	if _, _, err := c.Get(ctx, "c", 1, func(context.Context) (*Session, error) { return nil, failing }); !errors.Is(err, failing) {
		t.Fatalf("failed load: %v", err)
	}
	if c.Len() != 1 {
		t.Fatalf("a failed load stays cached")
	}
	// Concurrent Gets of one digest load it once.
	var wg sync.WaitGroup
	before := loads
	var mu sync.Mutex
	slow := func(ctx context.Context) (*Session, error) {
		mu.Lock()
		defer mu.Unlock()
		return load(10)(ctx)
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, rel, err := c.Get(ctx, "d", 10, slow)
			if err != nil {
				t.Error(err)
				return
			}
			rel()
		}()
	}
	wg.Wait()
	if loads != before+1 {
		t.Fatalf("8 concurrent Gets made %d loads", loads-before)
	}
}
