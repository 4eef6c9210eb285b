package stage

import "testing"

func TestFixedShape(t *testing.T) {
	tests := []struct {
		json    string
		h, w, c int
		ok      bool
	}{
		{`[]`, 0, 0, 3, false},
		{`[{"action": "resize", "height": 10, "width": 20}]`, 10, 20, 3, true},
		{`[{"action": "resize", "size": 224, "keepAspectRatio": false}]`, 224, 224, 3, true},
		{`[{"action": "resize", "size": 256, "keepAspectRatio": true}]`, 0, 0, 3, false},
		{`[{"action": "resize", "size": 256, "keepAspectRatio": true}, {"action": "centercrop", "height": 224, "width": 224}]`, 224, 224, 3, true},
		{`[{"action": "resize", "size": 200, "keepAspectRatio": true}, {"action": "centercrop", "height": 224, "width": 224}]`, 0, 0, 3, false},
		{`[{"action": "centercrop", "height": 224, "width": 224}]`, 0, 0, 3, false},
		{`[{"action": "resize", "height": 100, "width": 100}, {"action": "centercrop", "height": 50, "width": 200}]`, 50, 100, 3, true},
		{`[{"action": "crop", "x": 0, "y": 0, "height": 5, "width": 6}, {"action": "flip", "flipCode": 1}]`, 5, 6, 3, true},
		{`[{"action": "resize", "height": 8, "width": 8}, {"action": "colorformat", "format": 6}]`, 8, 8, 1, true},
		{`[{"action": "colorformat", "format": 6}, {"action": "colorformat", "format": 8}, {"action": "resize", "height": 8, "width": 8}]`, 8, 8, 3, true},
	}
	for _, tc := range tests {
		stages, err := Parse([]byte(tc.json))
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		h, w, c, ok := FixedShape(stages)
		if ok != tc.ok || (ok && (h != tc.h || w != tc.w)) || c != tc.c {
			t.Errorf("%s: %d×%d×%d %v, want %d×%d×%d %v", tc.json, h, w, c, ok, tc.h, tc.w, tc.c, tc.ok)
		}
	}
}

func TestFastStagesKeepsInterpolation(t *testing.T) {
	stages, err := Parse([]byte(`[{"action":"resize","size":224,"keepAspectRatio":true,"interpolation":"antialias"},{"action":"flip","flipCode":1}]`))
	if err != nil {
		t.Fatal(err)
	}
	got := FastStages(stages, 1080, 1920)
	if r, ok := got[0].(Resize); !ok || r != (Resize{Height: 224, Width: 398, Interpolation: InterAntialias}) || got[1] != stages[1] {
		t.Errorf("FastStages = %#v", got)
	}
}
