package transform

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/stage"
)

// golden mirrors testdata/golden.json, written by
// test/python/gen_transform_golden.py from the real SynapseML 1.1.0's output.
type golden struct {
	Oracle string            `json:"oracle"`
	Inputs map[string][3]int `json:"inputs"`
	Cases  []struct {
		Input  string          `json:"input"`
		Stages json.RawMessage `json:"stages"`
		Offset int             `json:"offset"`
		Shape  [3]int          `json:"shape"`
	} `json:"cases"`
	Tensors []struct {
		Input  string          `json:"input"`
		Params json.RawMessage `json:"params"`
		Offset int             `json:"offset"`
		Shape  [3]int          `json:"shape"`
	} `json:"tensors"`
}

func loadGolden(t testing.TB) (*golden, map[string]Image) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	ins := map[string]Image{}
	for name, s := range g.Inputs {
		data, err := os.ReadFile(filepath.Join("testdata", "inputs", name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		ins[name] = Image{Height: s[0], Width: s[1], Channels: s[2], Data: data}
	}
	return &g, ins
}

// TestGoldenSynapseML runs every golden case and reports, per action, how
// many values equal SynapseML's; every one must.
func TestGoldenSynapseML(t *testing.T) {
	g, ins := loadGolden(t)
	outs := map[string][]byte{}
	type stat struct{ cases, exactCases, px, same, maxDiff int }
	stats := map[string]*stat{}
	for i, c := range g.Cases {
		if outs[c.Input] == nil {
			b, err := os.ReadFile(filepath.Join("testdata", "outputs", c.Input+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			outs[c.Input] = b
		}
		name := fmt.Sprintf("case %d %s %s", i, c.Input, c.Stages)
		stages, err := stage.Parse(c.Stages)
		if err != nil {
			t.Errorf("%s: parse: %v", name, err)
			continue
		}
		got, err := Apply(stages, ins[c.Input])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if [3]int{got.Height, got.Width, got.Channels} != c.Shape {
			t.Errorf("%s: shape %dx%dx%d, want %v", name, got.Height, got.Width, got.Channels, c.Shape)
			continue
		}
		want := outs[c.Input][c.Offset : c.Offset+len(got.Data)]
		same, maxDiff := 0, 0
		for j := range want {
			d := int(got.Data[j]) - int(want[j])
			if d == 0 {
				same++
			}
			maxDiff = max(maxDiff, d, -d)
		}
		var actions []string
		for _, st := range stages {
			actions = append(actions, st.Action())
		}
		key := strings.Join(actions, "+")
		s := stats[key]
		if s == nil {
			s = &stat{}
			stats[key] = s
		}
		s.cases++
		s.px += len(want)
		s.same += same
		s.maxDiff = max(s.maxDiff, maxDiff)
		if same == len(want) {
			s.exactCases++
		}
		if maxDiff > 0 {
			t.Errorf("%s: %d of %d values differ, max |diff| %d", name, len(want)-same, len(want), maxDiff)
		}
	}
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := stats[k]
		t.Logf("%-40s %3d cases (%3d identical), %7d values, %.4f%% identical, max |diff| %d (%s)",
			k, s.cases, s.exactCases, s.px, 100*float64(s.same)/float64(s.px), s.maxDiff, g.Oracle)
	}
}

// TestGoldenTensor compares ToTensor with SynapseML's values: identical.
func TestGoldenTensor(t *testing.T) {
	g, ins := loadGolden(t)
	for i, c := range g.Tensors {
		raw, err := os.ReadFile(filepath.Join("testdata", "tensor", c.Input+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := stage.ParseTensor(c.Params)
		if err != nil {
			t.Fatalf("tensor %d: %v", i, err)
		}
		got, err := ToTensor(ins[c.Input], p)
		if err != nil {
			t.Fatalf("tensor %d: %v", i, err)
		}
		if [3]int{got.Channels, got.Height, got.Width} != c.Shape {
			t.Fatalf("tensor %d: shape %d %d %d, want %v", i, got.Channels, got.Height, got.Width, c.Shape)
		}
		n := c.Shape[0] * c.Shape[1] * c.Shape[2]
		worst := 0.0
		for j := range n {
			want := math.Float64frombits(binary.LittleEndian.Uint64(raw[c.Offset+8*j:]))
			v := 0.0
			if p.Double {
				v = got.F64[j]
			} else {
				v = float64(got.F32[j])
			}
			worst = max(worst, math.Abs(v-want))
		}
		if worst != 0 {
			t.Errorf("tensor %d (%s %s): max |diff| %g", i, c.Input, c.Params, worst)
		}
	}
}
