package planner

import (
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

// What the external tests (package planner_test, which plan through
// plannertest) reach inside a coordinator.

const DefaultPlanWait = defaultPlanWait

func (c *Coordinator) SetPlanWait(d time.Duration) { c.planWait = d }

func (c *Coordinator) SetMounts(m *hdfsio.Mounts) { c.deps.Mounts = m }

func (c *Coordinator) SetLocate(l Locator) { c.deps.Locate = l }

func (c *Coordinator) StoredBytes() int64 { return c.plans.bytes }
