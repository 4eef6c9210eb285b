//go:build cgo

package model

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/imageflight/imageflight/pkg/wire"
)

// ortMu guards ONNX Runtime's process-wide environment, which
// onnxruntime_go keeps in package state: one library per process.
var (
	ortMu     sync.Mutex
	ortLoaded string // the library's path once loaded
)

// Runtime opens sessions with ONNX Runtime, loading its shared library on
// first use: a worker that never runs a model never needs it.
type Runtime struct {
	cfg     Config
	noArena bool // BenchmarkSessions: ONNX Runtime's CPU arena off
	spin    bool // BenchmarkSessions: idle intra-op threads spin (ONNX Runtime's default)
}

// NewRuntime returns a runtime that will load the library cfg names (or
// finds) when the first model is opened.
func NewRuntime(cfg Config) *Runtime { return &Runtime{cfg: cfg} }

// Load loads the library if it is not loaded yet and returns its path.
// Without one it returns an Unavailable error naming what was tried and
// what to install (another worker may have it); a failed load is retried
// on the next call, so installing the library needs no restart.
func (r *Runtime) Load() (string, error) {
	ortMu.Lock()
	defer ortMu.Unlock()
	if ortLoaded != "" {
		return ortLoaded, nil
	}
	var tried []string
	for _, path := range LibraryCandidates(r.cfg) {
		ort.SetSharedLibraryPath(path)
		err := ort.InitializeEnvironment(ort.WithLogLevelError())
		if err == nil {
			ortLoaded = path
			return path, nil
		}
		msg := err.Error()
		if strings.Contains(msg, "ORT API base: 2") {
			msg = "its C API is older than this binary's (ONNX Runtime 1.24)"
		}
		tried = append(tried, path+": "+msg)
	}
	return "", &wire.Error{Kind: wire.KindUnavailable, Err: ErrNoRuntime,
		Msg: fmt.Sprintf("this worker cannot run ONNX models: %v (tried %s); %s", ErrNoRuntime, strings.Join(tried, "; "), installHint)}
}

// ErrNoRuntime marks a worker without a loadable ONNX Runtime.
var ErrNoRuntime = errors.New("ONNX Runtime's shared library was not found or did not load")

// Open opens a session on a model's bytes, whose declared inputs and
// outputs are io (ReadIO). Errors name the model by digest.
func (r *Runtime) Open(data []byte) (*Session, error) {
	io, err := ReadIO(data)
	if err != nil {
		return nil, wire.Wrap(wire.KindInvalidArgument, err, "model "+Digest(data))
	}
	if _, err := r.Load(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, wire.Wrap(wire.KindInternal, err, "session options")
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(r.cfg.Threads); err != nil {
		return nil, wire.Wrap(wire.KindInternal, err, "session options")
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, wire.Wrap(wire.KindInternal, err, "session options")
	}
	// Idle intra-op threads spinning burn the cores decodes need (BenchmarkSessions).
	if !r.spin {
		if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, wire.Wrap(wire.KindInternal, err, "session options")
		}
	}
	if r.noArena {
		if err := opts.SetCpuMemArena(false); err != nil {
			return nil, wire.Wrap(wire.KindInternal, err, "session options")
		}
	}
	ins := make([]string, len(io.Inputs))
	for i, v := range io.Inputs {
		ins[i] = v.Name
	}
	outs := make([]string, len(io.Outputs))
	for i, v := range io.Outputs {
		outs[i] = v.Name
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, ins, outs, opts)
	if err != nil {
		return nil, wire.Wrap(wire.KindInvalidArgument, err, "ONNX Runtime refused model "+Digest(data))
	}
	return &Session{IO: io, Digest: Digest(data), Size: int64(len(data)), r: &ortRunner{s: s, outputs: outs}}, nil
}

// ortRunner runs an ONNX Runtime session.
type ortRunner struct {
	s       *ort.DynamicAdvancedSession
	outputs []string // the session's output names, in order
}

func (o *ortRunner) close() { o.s.Destroy() }

func (o *ortRunner) run(ctx context.Context, in Batch, shape [4]int64, names []string) ([]Column, error) {
	var input ort.Value
	var err error
	if in.F64 != nil {
		input, err = ort.NewTensor(ort.NewShape(shape[:]...), in.F64)
	} else {
		input, err = ort.NewTensor(ort.NewShape(shape[:]...), in.F32)
	}
	if err != nil {
		return nil, err
	}
	defer input.Destroy()
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, err
	}
	defer ro.Destroy()
	stop := context.AfterFunc(ctx, func() { ro.Terminate() })
	defer stop()
	outs := make([]ort.Value, len(o.outputs))
	if err := o.s.RunWithOptions([]ort.Value{input}, outs, ro); err != nil {
		return nil, err
	}
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	cols := make([]Column, len(names))
	for i, name := range names {
		j := indexOf(o.outputs, name)
		if j < 0 {
			return nil, fmt.Errorf("no output %q", name)
		}
		switch t := outs[j].(type) {
		case *ort.Tensor[float32]:
			cols[i].F32 = append([]float32(nil), t.GetData()...)
		case *ort.Tensor[float64]:
			cols[i].F64 = append([]float64(nil), t.GetData()...)
		default:
			return nil, fmt.Errorf("output %q is a %T, not a float or double tensor", name, outs[j])
		}
	}
	return cols, nil
}

func indexOf(l []string, s string) int {
	for i, v := range l {
		if v == s {
			return i
		}
	}
	return -1
}
