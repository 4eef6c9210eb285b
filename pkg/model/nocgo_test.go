//go:build !cgo

package model

import (
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/wire"
)

// TestNoCgo: a CGO_ENABLED=0 binary refuses model reads, saying why.
func TestNoCgo(t *testing.T) {
	_, err := NewRuntime(DefaultConfig()).Open(readTestdata(t, "convnet.onnx"))
	if wire.KindOf(err) != wire.KindUnavailable || !strings.Contains(err.Error(), "built without cgo") || !strings.Contains(err.Error(), "pip install onnxruntime") {
		t.Fatalf("Open without cgo: %v", err)
	}
}
