package planner

import (
	"context"
	"time"

	"github.com/imageflight/imageflight/pkg/wire"
)

// defaultPlanWait bounds how long a GetFlightInfo or GetSchema waits for a
// listing slot before answering ResourceExhausted: long enough to ride out
// a burst of plans, short enough that a client learns the coordinator is
// saturated instead of hanging.
const defaultPlanWait = 30 * time.Second

// planSlot waits for one of the MaxConcurrentPlans plan slots, as long
// as ctx allows and at most c.planWait. A plan holds its slot from the
// start of its listing until its FlightInfo is built and stored: the
// listing and the splits, packed lists and tickets made from it are what
// costs a coordinator memory (and the listing NameNode load); fifty
// parallel recursive plans of a large tree would otherwise take gigabytes
// at once.
func (c *Coordinator) planSlot(ctx context.Context) (release func(), err error) {
	select {
	case c.planSlots <- struct{}{}:
		return func() { <-c.planSlots }, nil
	default:
	}
	t := time.NewTimer(c.planWait)
	defer t.Stop()
	select {
	case c.planSlots <- struct{}{}:
		return func() { <-c.planSlots }, nil
	case <-ctx.Done():
		return nil, wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for a planning slot")
	case <-t.C:
		plansRefused.Inc()
		return nil, wire.Errorf(wire.KindResourceExhausted, "the coordinator is already making %d plans (--max-concurrent-plans) and none finished within %s; try again later", cap(c.planSlots), c.planWait)
	}
}
