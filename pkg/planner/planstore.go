package planner

import (
	"sync"
	"time"

	"github.com/imageflight/imageflight/pkg/wire"
)

// planStore keeps the packed split lists of by-reference plans on the
// coordinator until their tickets expire, bounded in bytes: when a new plan
// does not fit, expired plans go first, then the oldest. A ticket of an
// evicted or pre-restart plan answers KindExpired and the client plans
// again.
type planStore struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	plans    map[string]storedPlan
	order    []string // oldest first
}

type storedPlan struct {
	expires time.Time
	splits  [][]byte // packed wire.SplitList per split
	bytes   int64
}

func newPlanStore(maxBytes int64) *planStore {
	return &planStore{maxBytes: maxBytes, plans: map[string]storedPlan{}}
}

// put stores a plan, evicting expired then oldest plans to make room. A
// plan larger than the whole store is refused.
func (s *planStore) put(id string, expires time.Time, splits [][]byte) error {
	sp := storedPlan{expires: expires, splits: splits}
	for _, b := range splits {
		sp.bytes += int64(len(b))
	}
	if sp.bytes > s.maxBytes {
		return wire.Errorf(wire.KindResourceExhausted, "plan's file lists take %d bytes packed, more than the coordinator keeps (%d); read fewer files or raise --plan-store-bytes", sp.bytes, s.maxBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	kept := s.order[:0]
	for _, old := range s.order {
		if p := s.plans[old]; p.expires.Before(now) {
			s.drop(old)
			continue
		}
		kept = append(kept, old)
	}
	for len(kept) > 0 && s.bytes+sp.bytes > s.maxBytes {
		s.drop(kept[0])
		kept = kept[1:]
	}
	s.order = append(kept, id)
	s.plans[id] = sp
	s.bytes += sp.bytes
	return nil
}

func (s *planStore) drop(id string) {
	s.bytes -= s.plans[id].bytes
	delete(s.plans, id)
}

func (s *planStore) get(id string, split int) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[id]
	if !ok || split < 0 || split >= len(p.splits) {
		return nil, false
	}
	return p.splits[split], true
}

// Split answers a worker's split action: the packed list of a stored
// plan's split.
func (c *Coordinator) Split(ticket []byte) ([]byte, error) {
	t, _, err := c.signer.Verify(ticket, time.Now())
	if err != nil {
		return nil, wire.Wrap(wire.AutoKind, err, "split")
	}
	list, ok := c.plans.get(t.Plan, t.Split)
	if !ok {
		return nil, wire.Errorf(wire.KindExpired, "plan %s is no longer held by this coordinator (restarted, or evicted to make room for newer plans); call GetFlightInfo again", t.Plan)
	}
	return list, nil
}
