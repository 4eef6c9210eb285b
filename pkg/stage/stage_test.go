package stage

import (
	"encoding/json"
	"testing"
)

func stages(t *testing.T, s string) []Stage {
	t.Helper()
	st, err := Parse(json.RawMessage(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return st
}

func TestOutputShape(t *testing.T) {
	tests := []struct {
		stages     string
		h, w, c    int
		oh, ow, oc int
	}{
		// shorter side to 224, the other round(224/1080*1920) = 398
		{`[{"action":"resize","size":224,"keepAspectRatio":true}]`, 1080, 1920, 3, 224, 398, 3},
		{`[{"action":"resize","size":224,"keepAspectRatio":true}]`, 1920, 1080, 4, 398, 224, 4},
		// ratio*side = 2.5 exactly rounds up, as Scala's math.round does
		{`[{"action":"resize","size":5,"keepAspectRatio":true}]`, 2, 1, 3, 10, 5, 3},
		{`[{"action":"resize","size":1,"keepAspectRatio":true}]`, 4, 10, 3, 1, 3, 3},
		{`[{"action":"resize","size":7,"keepAspectRatio":false}]`, 4, 10, 3, 7, 7, 3},
		{`[{"action":"colorformat","format":6},{"action":"centercrop","height":300,"width":100}]`, 200, 150, 3, 200, 100, 1},
		{`[{"action":"colorformat","format":9}]`, 2, 2, 1, 2, 2, 4},
		{`[{"action":"colorformat","format":4}]`, 2, 2, 4, 2, 2, 3},
	}
	for _, tc := range tests {
		h, w, c, err := OutputShape(stages(t, tc.stages), tc.h, tc.w, tc.c)
		if err != nil || h != tc.oh || w != tc.ow || c != tc.oc {
			t.Errorf("OutputShape(%s, %d, %d, %d) = %d, %d, %d, %v; want %d, %d, %d",
				tc.stages, tc.h, tc.w, tc.c, h, w, c, err, tc.oh, tc.ow, tc.oc)
		}
	}
}

func TestShrinkFactor(t *testing.T) {
	tests := []struct {
		stages string
		h, w   int
		want   int
	}{
		{`[{"action":"resize","size":224,"keepAspectRatio":true}]`, 1080, 1920, 4},
		{`[{"action":"resize","size":100,"keepAspectRatio":true}]`, 1080, 1920, 8},
		{`[{"action":"resize","height":540,"width":960}]`, 1080, 1920, 2},
		{`[{"action":"resize","height":541,"width":960}]`, 1080, 1920, 1},
		{`[{"action":"resize","height":10,"width":10}]`, 1080, 1920, 8},
		{`[{"action":"flip","flipCode":1},{"action":"resize","height":10,"width":10}]`, 1080, 1920, 1},
		{`[]`, 1080, 1920, 1},
	}
	for _, tc := range tests {
		if got := ShrinkFactor(stages(t, tc.stages), tc.h, tc.w); got != tc.want {
			t.Errorf("ShrinkFactor(%s, %d, %d) = %d, want %d", tc.stages, tc.h, tc.w, got, tc.want)
		}
	}
}
