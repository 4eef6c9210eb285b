package planner

import (
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/wire"
)

func TestPlanStoreEvictsOldestFirstWithinBytes(t *testing.T) {
	s := newPlanStore(100)
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.put(id, exp, [][]byte{make([]byte, 40)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.get("a", 0); ok {
		t.Error("oldest plan kept past the byte bound")
	}
	for _, id := range []string{"b", "c"} {
		if _, ok := s.get(id, 0); !ok {
			t.Errorf("plan %s evicted; only the oldest should go", id)
		}
	}
	if s.bytes != 80 {
		t.Errorf("store counts %d bytes, want 80", s.bytes)
	}
	if err := s.put("huge", exp, [][]byte{make([]byte, 101)}); wire.KindOf(err) != wire.KindResourceExhausted {
		t.Errorf("plan larger than the store: %v", err)
	}
	if err := s.put("d", time.Now().Add(-time.Second), [][]byte{make([]byte, 10)}); err != nil {
		t.Fatal(err)
	}
	if err := s.put("e", exp, [][]byte{make([]byte, 10)}); err != nil || s.bytes != 90 {
		t.Errorf("expired plan not dropped first: %v, %d bytes", err, s.bytes)
	}
	for _, id := range []string{"b", "c", "e"} {
		if _, ok := s.get(id, 0); !ok {
			t.Errorf("plan %s evicted while an expired plan was there to drop", id)
		}
	}
}
