package plan

import (
	"encoding/binary"
	"hash/fnv"
)

// Sampled reports whether the file at path is in a sample of the given ratio.
// The decision hashes (seed, path) alone, so the same seed picks the same
// files whatever the listing order or parallelism — unlike Spark's
// java.util.Random sequence, which its own docs call non-deterministic.
func Sampled(seed int64, path string, ratio float64) bool {
	switch {
	case ratio >= 1:
		return true
	case ratio <= 0:
		return false
	}
	return float64(sampleHash(seed, path)>>11)/(1<<53) < ratio
}

// sampleHash is the hash of (seed, path) that Sampled maps onto [0, 1) and
// Limit ranks files by.
func sampleHash(seed int64, path string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(path))
	// FNV's low bits mix poorly for similar inputs; fold with a murmur-style
	// finaliser before mapping the top 53 bits onto [0, 1).
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
