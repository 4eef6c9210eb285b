package model

import "math"

// softmax writes SynapseML's softmax of each row of n rows of k values
// into out: exp(v − logsumexp(v)) in double, logsumexp as breeze computes
// it (max + log Σ exp(v − max)).
func softmax[T float32 | float64](in []T, n, k int, out []float64) {
	for r := range n {
		row := in[r*k : (r+1)*k]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, float64(v))
		}
		lse := m
		if !math.IsInf(m, 0) {
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
			lse = m + math.Log(s)
		}
		for i, v := range row {
			out[r*k+i] = math.Exp(float64(v) - lse)
		}
	}
}

// argmax writes each row's index of its first largest value, as a double
// (SynapseML's argmax column type).
func argmax[T float32 | float64](in []T, n, k int, out []float64) {
	for r := range n {
		row := in[r*k : (r+1)*k]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		out[r] = float64(best)
	}
}
