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
// test/python/gen_transform_golden.py from cv2's output.
type golden struct {
	OpenCV string            `json:"opencv"`
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

// exactActions are the stages whose output must equal OpenCV's byte for byte
// on every golden; a pipeline is held to the weakest of its stages.
var exactActions = map[string]bool{
	"resize": true, "crop": true, "centercrop": true, "colorformat": true,
	"flip": true, "blur": true, "threshold": true, "gaussiankernel": true,
}

// TestGoldenOpenCV runs every golden case and reports, per action, how many
// pixels equal cv2's. Stages in exactActions must match exactly; others may
// differ by at most 1.
func TestGoldenOpenCV(t *testing.T) {
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
		exact := true
		var actions []string
		for _, st := range stages {
			actions = append(actions, st.Action())
			exact = exact && exactActions[st.Action()]
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
		if (exact && maxDiff > 0) || maxDiff > 1 {
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
		t.Logf("%-40s %3d cases (%3d identical), %7d values, %.4f%% identical, max |diff| %d (OpenCV %s)",
			k, s.cases, s.exactCases, s.px, 100*float64(s.same)/float64(s.px), s.maxDiff, g.OpenCV)
	}
}

// TestGoldenTensor compares ToTensor with numpy's float64 arithmetic.
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
		if worst > 1e-6 {
			t.Errorf("tensor %d (%s %s): max |diff| %g", i, c.Input, c.Params, worst)
		}
	}
}
