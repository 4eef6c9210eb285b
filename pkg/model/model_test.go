package model

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
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

// testRuntime loads ONNX Runtime from IMAGEFLIGHT_ONNXRUNTIME_LIBRARY or
// from the suite's virtualenv (test/python/setup.sh installs the
// onnxruntime wheel into <repo>/.venv). Missing, the test fails: the
// suite installs it.
func testRuntime(t testing.TB) *Runtime {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Threads = 1
	cfg.Library = TestLibrary()
	r := NewRuntime(cfg)
	if _, err := r.Load(); err != nil {
		t.Fatalf("%v\n(the suite installs onnxruntime into <repo>/.venv with test/python/setup.sh; or set IMAGEFLIGHT_ONNXRUNTIME_LIBRARY)", err)
	}
	return r
}

type golden struct {
	Model      string            `json:"model"`
	InputShape []int             `json:"input_shape"`
	Double     bool              `json:"double"`
	Input      string            `json:"input"`
	Outputs    map[string]string `json:"outputs"`
	Softmax    map[string]string `json:"softmax"`
	Argmax     map[string]string `json:"argmax"`
}

func decode32(t *testing.T, s string) []float32 {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func decode64(t *testing.T, s string) []float64 {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// TestGoldens runs the testdata models through ONNX Runtime's C API in
// mini-batches of several sizes and compares every output with what
// onnxruntime's Python API computed one row at a time (gen_models.py).
// Batching changes the order of no float operation in these graphs, and
// both sides run the same library's CPU kernels, so the tolerance is a few
// float32 ulps (1e-6 absolute on values of order 1); softmax and argmax are
// computed in double on both sides and must agree to 1e-12.
func TestGoldens(t *testing.T) {
	r := testRuntime(t)
	var g struct {
		Cases []golden `json:"cases"`
	}
	if err := json.Unmarshal(readTestdata(t, "goldens.json"), &g); err != nil {
		t.Fatal(err)
	}
	for _, tc := range g.Cases {
		data := readTestdata(t, tc.Model)
		s, err := r.Open(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.Model, err)
		}
		defer s.Close()
		fetch := map[string]string{}
		for k := range tc.Outputs {
			fetch[k] = k
		}
		spec := &stage.ModelParams{Location: "/m", Feed: map[string]string{"x": "tensor"}, Fetch: fetch, MiniBatch: 1}
		if tc.Softmax != nil {
			spec.SoftMax = map[string]string{"logits": "prob"}
			spec.ArgMax = map[string]string{"prob": "pred"}
		}
		shape := [3]int{tc.InputShape[1], tc.InputShape[2], tc.InputShape[3]}
		plan, err := stage.PlanModel(spec, s.IO, shape, tc.Double)
		if err != nil {
			t.Fatalf("%s: %v", tc.Model, err)
		}
		in := Batch{N: tc.InputShape[0]}
		if tc.Double {
			in.F64 = decode64(t, tc.Input)
		} else {
			in.F32 = decode32(t, tc.Input)
		}
		for _, mb := range []int{1, 3, 7, 10} {
			cols, err := s.Run(context.Background(), plan, mb, in, shape)
			if err != nil {
				t.Fatalf("%s batch %d: %v", tc.Model, mb, err)
			}
			for i, c := range plan.Columns {
				var got, want []float64
				tol := 1e-6
				switch c.Op {
				case "fetch":
					if tc.Double {
						want = decode64(t, tc.Outputs[c.Output])
					} else {
						for _, v := range decode32(t, tc.Outputs[c.Output]) {
							want = append(want, float64(v))
						}
					}
				case "softmax":
					want, tol = decode64(t, tc.Softmax["logits"]), 1e-12
				case "argmax":
					want, tol = decode64(t, tc.Argmax["logits"]), 0
				}
				got = cols[i].F64
				if cols[i].F32 != nil {
					got = nil
					for _, v := range cols[i].F32 {
						got = append(got, float64(v))
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s batch %d column %s: %d values, want %d", tc.Model, mb, c.Name, len(got), len(want))
				}
				worst := 0.0
				for j := range got {
					worst = max(worst, math.Abs(got[j]-want[j]))
				}
				if worst > tol {
					t.Errorf("%s batch %d column %s: max |diff| %g > %g", tc.Model, mb, c.Name, worst, tol)
				}
			}
		}
	}
}

func TestOpenRefusesNotONNX(t *testing.T) {
	r := testRuntime(t)
	if _, err := r.Open([]byte("not a model")); wire.KindOf(err) != wire.KindInvalidArgument || !errors.Is(err, ErrNotONNX) {
		t.Fatalf("Open(garbage) = %v", err)
	}
}

func TestCancelledRun(t *testing.T) {
	r := testRuntime(t)
	s, err := r.Open(readTestdata(t, "convnet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec := &stage.ModelParams{Feed: map[string]string{"x": "tensor"}, Fetch: map[string]string{"f": "features"}, MiniBatch: 1}
	plan, err := stage.PlanModel(spec, s.IO, [3]int{3, 4, 4}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Run(ctx, plan, 1, Batch{N: 2, F32: make([]float32, 96)}, [3]int{3, 4, 4})
	if k := wire.KindOf(err); k != wire.KindCanceled {
		t.Fatalf("cancelled run: %v (kind %v)", err, k)
	}
}

// TestMissingLibrary checks, in a child process (the library, once loaded,
// stays loaded), what a worker without ONNX Runtime answers: Unavailable,
// naming the path tried and what to install.
func TestMissingLibrary(t *testing.T) {
	if os.Getenv("MODEL_TEST_MISSING_CHILD") == "1" {
		r := NewRuntime(Config{Library: "/nonexistent/libonnxruntime.so.1.24.1", Threads: 1})
		_, err := r.Load()
		os.Stdout.WriteString(wire.KindOf(err).String() + "|" + err.Error())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingLibrary$")
	cmd.Env = append(os.Environ(), "MODEL_TEST_MISSING_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"unavailable|", "cannot run ONNX models", "/nonexistent/libonnxruntime.so.1.24.1", "pip install onnxruntime", "--onnxruntime-library"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message lacks %q:\n%s", want, out)
		}
	}
}
