//go:build cgo

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
	"strings"
	"sync"
	"testing"

	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/wire"
)

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

// TestCancelledRun: a cancelled stream stops its batch — before a call
// starts, and in a running call, which ONNX Runtime terminates
// (RunOptions.Terminate). slownet's call never ends by itself, so only the
// termination can end it.
func TestCancelledRun(t *testing.T) {
	r := testRuntime(t)
	for _, tc := range []struct {
		model string
		ctx   func() context.Context
		want  string
	}{
		{"convnet.onnx", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "context canceled"},
		{"slownet.onnx", func() context.Context { return newCancelWhenWatched() }, "running call terminated"},
	} {
		s, err := r.Open(readTestdata(t, tc.model))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		spec := &stage.ModelParams{Feed: map[string]string{"x": "tensor"}, Fetch: map[string]string{"f": "features"}, MiniBatch: 1}
		plan, err := stage.PlanModel(spec, s.IO, [3]int{3, 4, 4}, false)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Run(tc.ctx(), plan, 1, Batch{N: 2, F32: make([]float32, 96)}, [3]int{3, 4, 4})
		if k := wire.KindOf(err); k != wire.KindCanceled || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: cancelled run: %v (kind %v), want Canceled naming %q", tc.model, err, k, tc.want)
		}
	}
}

// cancelWhenWatched is a context cancelled as soon as someone waits for
// it to be done: the runner's watch, registered once the call's pre-checks
// passed, so the cancellation lands in the running call, deterministically.
type cancelWhenWatched struct {
	context.Context // cancelled by cancel, on the first Done
	cancel          context.CancelFunc
	once            sync.Once
}

func newCancelWhenWatched() *cancelWhenWatched {
	ctx, cancel := context.WithCancel(context.Background())
	return &cancelWhenWatched{Context: ctx, cancel: cancel}
}

func (c *cancelWhenWatched) Done() <-chan struct{} {
	c.once.Do(c.cancel)
	return c.Context.Done()
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
