package plan

import (
	"hash/fnv"
	"sort"
)

// MaxWorkerCapacity is the most decode slots planning credits one worker
// with. Capacity arrives in gossip metadata that a member chooses itself;
// bounding it keeps sums and products of capacities far from overflow (a
// worker claiming 2^62 slots once made every split count negative) and
// keeps one worker from claiming every split. 1024 is well above any
// machine's cores.
const MaxWorkerCapacity = 1024

// capacity is a worker's credited decode slots: at least 1, at most
// MaxWorkerCapacity.
func capacity(w Worker) int { return min(max(w.Capacity, 1), MaxWorkerCapacity) }

// DefaultPartitions is the split count for a request that leaves it to the
// server: splitsPerSlot splits per credited decode slot, at most
// MaxPartitions. It cannot overflow whatever the workers advertise.
func DefaultPartitions(workers []Worker, splitsPerSlot int) int {
	slots := 0
	for _, w := range workers {
		slots += capacity(w) // ≤ len(workers) * 1024
	}
	per := min(max(splitsPerSlot, 1), MaxPartitions)
	return max(min(slots*per, MaxPartitions), 1)
}

// Worker is a live worker as planning sees it.
type Worker struct {
	Name     string
	Host     string // host the worker runs on, matched against block replica hosts
	Capacity int    // decode slots (cores); counted within [1, MaxWorkerCapacity]
}

// Assign orders workers for every split: Assign(...)[i] lists indices into
// workers, the preferred worker first, then up to maxLocations-1 alternates.
//
// The order is stable for the same split and membership (rendezvous hashing
// on the split's first path), so a re-plan sends a split to the same worker
// and its page cache stays warm. Workers on a host that holds the split's
// blocks come first (localBytes[i][host] gives the split's bytes per host;
// nil means no locality is known). The preferred worker is the first in
// that order still under its share of the splits, weighted by capacity, so
// no worker is handed much more than its share.
func Assign(splits []Split, workers []Worker, localBytes []map[string]int64, maxLocations int) [][]int {
	if len(workers) == 0 {
		return make([][]int, len(splits))
	}
	if maxLocations <= 0 || maxLocations > len(workers) {
		maxLocations = len(workers)
	}
	totalCap := 0
	for _, w := range workers {
		totalCap += capacity(w)
	}
	limit := make([]int, len(workers))
	for i, w := range workers {
		// Ceiling of splits*cap/totalCap in integers: capacities are
		// clamped, so the product stays far below overflow.
		limit[i] = (len(splits)*capacity(w) + totalCap - 1) / totalCap
	}
	load := make([]int, len(workers))
	out := make([][]int, len(splits))
	for si, s := range splits {
		key := ""
		if len(s.Files) > 0 {
			key = s.Files[0].Path
		}
		var local map[string]int64
		if localBytes != nil {
			local = localBytes[si]
		}
		order := rank(key, workers, local)
		pref := 0
		for i, wi := range order {
			if load[wi] < limit[wi] {
				pref = i
				break
			}
		}
		chosen := append([]int{order[pref]}, order[:pref]...)
		chosen = append(chosen, order[pref+1:]...)
		load[chosen[0]]++
		out[si] = chosen[:maxLocations]
	}
	return out
}

// rank orders worker indices: most local bytes first, then by rendezvous
// score of (key, worker name).
func rank(key string, workers []Worker, local map[string]int64) []int {
	type cand struct {
		idx   int
		local int64
		score uint64
	}
	c := make([]cand, len(workers))
	for i, w := range workers {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(w.Name))
		c[i] = cand{idx: i, local: local[w.Host], score: h.Sum64()}
	}
	sort.Slice(c, func(a, b int) bool {
		if c[a].local != c[b].local {
			return c[a].local > c[b].local
		}
		if c[a].score != c[b].score {
			return c[a].score > c[b].score
		}
		return workers[c[a].idx].Name < workers[c[b].idx].Name
	})
	order := make([]int, len(c))
	for i, x := range c {
		order[i] = x.idx
	}
	return order
}
