package server

import (
	"os"
	"runtime/debug"
)

// MemoryLimit is the Go runtime's soft memory limit for a worker with an
// image memory budget: the budget plus a quarter of it (at least 128 MiB)
// for what is not images — gRPC's connection buffers, Arrow metadata,
// gossip, goroutine stacks, the runtime's own structures — and for the
// garbage collector to work in. Without a limit the heap grows to twice
// the live images before a collection (GOGC=100), and RSS with it.
func MemoryLimit(budget int64) int64 {
	return budget + max(budget/4, 128<<20)
}

// applyMemoryLimit sets MemoryLimit(budget) as the runtime's soft limit
// for a process that decodes images, unless GOMEMLIMIT is in the
// environment (the operator's value, or "off", wins). It returns the limit
// it set, 0 when it left the runtime alone. The limit is soft: past it the
// runtime collects more often, bounded to about half the CPU, but never
// fails an allocation.
func applyMemoryLimit(cfg Config) int64 {
	if cfg.Role&RoleWorker == 0 {
		return 0
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	limit := MemoryLimit(cfg.Worker.MemoryBudget)
	debug.SetMemoryLimit(limit)
	return limit
}
