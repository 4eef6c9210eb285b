package wire

import (
	"encoding/json"
	"testing"
)

// TestPipelineTensorChannels: the tensor column's channels follow the last
// colour conversion, and autoConvertToColor makes every tensor colour.
func TestPipelineTensorChannels(t *testing.T) {
	gray := json.RawMessage(`[{"action":"resize","height":4,"width":5},{"action":"colorformat","format":6}]`)
	for _, tc := range []struct {
		transforms, tensor string
		want               [3]int
	}{
		{`[{"action":"resize","height":4,"width":5}]`, `{}`, [3]int{3, 4, 5}},
		{string(gray), `{}`, [3]int{1, 4, 5}},
		{string(gray), `{"autoConvertToColor":true,"normalizeMean":[1,2,3]}`, [3]int{3, 4, 5}},
	} {
		p, err := ParsePipeline(json.RawMessage(tc.transforms), json.RawMessage(tc.tensor), nil, false)
		if err != nil || p.TensorShape != tc.want {
			t.Errorf("%s %s: shape %v, %v; want %v", tc.transforms, tc.tensor, p.TensorShape, err, tc.want)
		}
	}
	if _, err := ParsePipeline(gray, json.RawMessage(`{"normalizeMean":[1,2,3]}`), nil, false); err == nil {
		t.Error("three means for a gray tensor column accepted")
	}
}
