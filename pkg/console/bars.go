package console

import "sort"

type bucketEdge struct {
	upTo  int64 // exclusive upper bound; the last bucket has none
	label string
}

var sizeBuckets = []bucketEdge{{4 << 10, "< 4 KB"}, {16 << 10, "4–16 KB"}, {64 << 10, "16–64 KB"}, {256 << 10, "64–256 KB"},
	{1 << 20, "256 KB–1 MB"}, {4 << 20, "1–4 MB"}, {0, "≥ 4 MB"}}

var dimBuckets = []bucketEdge{{64, "< 64 px"}, {256, "64–255 px"}, {512, "256–511 px"}, {1024, "512–1023 px"},
	{2048, "1024–2047 px"}, {4096, "2048–4095 px"}, {0, "≥ 4096 px"}}

func bucket(b []bucketEdge, v int64) int {
	for i, e := range b[:len(b)-1] {
		if v < e.upTo {
			return i
		}
	}
	return len(b) - 1
}

func histogram(b []bucketEdge, counts []int) []Bar {
	out := make([]Bar, len(b))
	for i, e := range b {
		out[i] = Bar{Label: e.label, N: counts[i]}
	}
	return scale(out)
}

// bars sorts counts largest first (then by label).
func bars(m map[string]int) []Bar {
	out := make([]Bar, 0, len(m))
	for k, n := range m {
		out = append(out, Bar{Label: k, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Label < out[j].Label
	})
	return scale(out)
}

func scale(b []Bar) []Bar {
	top := 0
	for _, x := range b {
		top = max(top, x.N)
	}
	for i := range b {
		if top > 0 {
			b[i].Pct = b[i].N * 100 / top
		}
	}
	return b
}
