package pipeline

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Memory budget defaults, derived from the machine.
const (
	// budgetShare of the memory this process may use goes to images: the
	// rest is Go's garbage-collection headroom, gRPC buffers and the batch
	// builders.
	budgetShare = 2
	// minMemoryBudget keeps small containers useful: four 2048² RGBA
	// decodes in flight.
	minMemoryBudget = 256 << 20
	// fallbackMemory is assumed when neither cgroup nor /proc say.
	fallbackMemory = 4 << 30
)

// DefaultMemoryBudget is half the memory this process may use — the
// cgroup limit when there is one, else physical memory — and at least
// 256 MiB.
func DefaultMemoryBudget() int64 {
	return max(machineMemory()/budgetShare, minMemoryBudget)
}

// machineMemory is the smallest of the cgroup (v2 or v1) limit and
// MemTotal from /proc/meminfo.
func machineMemory() int64 {
	mem := meminfoTotal()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (mem == 0 || n < mem) {
				mem = n // "max" (no limit) does not parse; v1's "no limit" is huge
			}
		}
	}
	if mem <= 0 {
		return fallbackMemory
	}
	return mem
}

func meminfoTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
