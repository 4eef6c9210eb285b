package model

import (
	"os"
	"path/filepath"
	"runtime"
)

// TestLibrary is where tests find ONNX Runtime: IMAGEFLIGHT_ONNXRUNTIME_LIBRARY,
// else the onnxruntime wheel in the repository's .venv (test/python/setup.sh
// installs it), else "" (the normal search).
func TestLibrary() string {
	if p := os.Getenv("IMAGEFLIGHT_ONNXRUNTIME_LIBRARY"); p != "" {
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if m := newestFirst(filepath.Join(root, ".venv", "lib", "python3*", "site-packages", "onnxruntime", "capi", "libonnxruntime.so*")); len(m) > 0 {
		return m[0]
	}
	return ""
}
