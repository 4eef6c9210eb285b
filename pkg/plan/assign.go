package plan

import (
	"hash/fnv"
	"math"
	"sort"
)

// Worker is a live worker as planning sees it.
type Worker struct {
	Name     string
	Host     string // host the worker runs on, matched against block replica hosts
	Capacity int    // decode slots (cores); at least 1 counts
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
		totalCap += max(w.Capacity, 1)
	}
	limit := make([]int, len(workers))
	for i, w := range workers {
		limit[i] = int(math.Ceil(float64(len(splits)) * float64(max(w.Capacity, 1)) / float64(totalCap)))
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
