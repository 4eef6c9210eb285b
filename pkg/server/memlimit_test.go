package server

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitFollowsTheBudget(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	tests := []struct {
		name   string
		role   Role
		env    string // GOMEMLIMIT; "-" unset
		budget int64
		want   int64 // the runtime's limit after applyMemoryLimit
	}{
		{"small budget: 128 MiB headroom", RoleWorker, "-", 256 << 20, 384 << 20},
		{"large budget: a quarter more", RoleStandalone, "-", 8 << 30, 10 << 30},
		{"GOMEMLIMIT set: left alone", RoleWorker, "1GiB", 256 << 20, math.MaxInt64},
		{"GOMEMLIMIT=off: left alone", RoleWorker, "off", 256 << 20, math.MaxInt64},
		{"coordinator: decodes nothing", RoleCoordinator, "-", 256 << 20, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv("GOMEMLIMIT", tc.env) // restored after the test
			if tc.env == "-" {
				os.Unsetenv("GOMEMLIMIT")
			}
			cfg := DefaultConfig()
			cfg.Role, cfg.Worker.MemoryBudget = tc.role, tc.budget
			set := applyMemoryLimit(cfg)
			if got := debug.SetMemoryLimit(-1); got != tc.want || (set != 0) != (tc.want != math.MaxInt64) {
				t.Errorf("limit %d (reported %d), want %d", got, set, tc.want)
			}
		})
	}
}
