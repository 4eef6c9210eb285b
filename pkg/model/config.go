package model

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Config holds a worker's model tunables.
type Config struct {
	// Library is ONNX Runtime's shared library; "" searches for it
	// (LibraryCandidates).
	Library string
	// Threads is each model call's intra-op threads. One session per
	// model is shared by every stream of the worker (ONNX Runtime's Run is
	// safe for concurrent use); a worker runs at most decode slots /
	// Threads calls at once, so inference stays within its cores.
	Threads int
	// CacheBytes bounds the model bytes whose sessions stay open between
	// streams; a model in use is never closed, so one larger model still
	// runs.
	CacheBytes int64
	// MaxModelBytes bounds one model file: the coordinator reads it whole
	// to digest it and a worker to open it.
	MaxModelBytes int64
}

// DefaultConfig returns the model defaults.
func DefaultConfig() Config {
	return Config{
		// One thread per call, as many calls as cores: the fewest
		// CPU-seconds per image (no intra-op threads waiting for each
		// other; BenchmarkSessions, docs/models.md), and a stream's
		// decodes keep the other cores busy while its batch runs.
		Threads: 1,
		// 1 GiB holds ~20 ResNet-50s; models are few per cluster.
		CacheBytes: 1 << 30,
		// ONNX's protobuf form is capped at 2 GB; models larger than that
		// keep weights outside the file, which a worker cannot fetch.
		MaxModelBytes: 2 << 30,
	}
}

// Validate reports the first tunable out of range.
func (c Config) Validate() error {
	switch {
	case c.Threads <= 0:
		return fmt.Errorf("model: threads must be positive, got %d", c.Threads)
	case c.CacheBytes <= 0:
		return fmt.Errorf("model: cache bytes must be positive, got %d", c.CacheBytes)
	case c.MaxModelBytes <= 0:
		return fmt.Errorf("model: max model bytes must be positive, got %d", c.MaxModelBytes)
	}
	return nil
}

// LibraryCandidates is where the runtime looks for ONNX Runtime's shared
// library, in order: the configured path alone when one is set
// (--onnxruntime-library); else the dynamic loader's own search for
// libonnxruntime.so (LD_LIBRARY_PATH, ld.so.cache, /usr/lib…); then the
// library inside a Python onnxruntime wheel in the active virtualenv
// ($VIRTUAL_ENV), in the virtualenv or prefix holding this executable, and
// in the user's site-packages; then beside this executable.
func LibraryCandidates(cfg Config) []string {
	if cfg.Library != "" {
		return []string{cfg.Library}
	}
	out := []string{"libonnxruntime.so"}
	var prefixes []string
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		prefixes = append(prefixes, v)
	}
	exeDir := ""
	if exe, err := os.Executable(); err == nil {
		exeDir = filepath.Dir(exe)
		prefixes = append(prefixes, filepath.Dir(exeDir))
	}
	if home, err := os.UserHomeDir(); err == nil {
		prefixes = append(prefixes, filepath.Join(home, ".local"))
	}
	for _, p := range prefixes {
		out = append(out, newestFirst(filepath.Join(p, "lib", "python3*", "site-packages", "onnxruntime", "capi", "libonnxruntime.so*"))...)
	}
	if exeDir != "" {
		out = append(out, newestFirst(filepath.Join(exeDir, "libonnxruntime.so*"))...)
	}
	return out
}

// newestFirst globs pattern, highest version (by name) first.
func newestFirst(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	sort.Sort(sort.Reverse(sort.StringSlice(m)))
	return m
}

// installHint is what a worker without the library tells the client.
const installHint = "install ONNX Runtime 1.24 or newer on the worker — `pip install onnxruntime` ships it as " +
	"onnxruntime/capi/libonnxruntime.so.* in its wheel, as do the releases at github.com/microsoft/onnxruntime — " +
	"and point the worker at it with --onnxruntime-library PATH (IMAGEFLIGHT_ONNXRUNTIME_LIBRARY)"
