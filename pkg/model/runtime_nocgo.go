//go:build !cgo

package model

import (
	"errors"

	"github.com/imageflight/imageflight/pkg/wire"
)

// Runtime stands for ONNX Runtime in a binary built without cgo, which
// cannot load it: every model read fails with a message saying so.
type Runtime struct{ cfg Config }

// NewRuntime returns the cgo-less runtime.
func NewRuntime(cfg Config) *Runtime { return &Runtime{cfg: cfg} }

// ErrNoRuntime marks a worker without a loadable ONNX Runtime.
var ErrNoRuntime = errors.New("this binary was built without cgo (CGO_ENABLED=0) and cannot load ONNX Runtime")

// Load always fails.
func (r *Runtime) Load() (string, error) {
	return "", &wire.Error{Kind: wire.KindUnavailable, Err: ErrNoRuntime,
		Msg: "this worker cannot run ONNX models: " + ErrNoRuntime.Error() + "; build it with cgo and " + installHint}
}

// Open always fails, after checking the bytes are a model.
func (r *Runtime) Open(data []byte) (*Session, error) {
	if _, err := ReadIO(data); err != nil {
		return nil, wire.Wrap(wire.KindInvalidArgument, err, "model "+Digest(data))
	}
	_, err := r.Load()
	return nil, err
}
