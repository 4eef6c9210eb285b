package planner_test

import (
	"testing"

	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
)

func TestCoordinatorConfigValidateAndDefaults(t *testing.T) {
	if err := planner.DefaultCoordinatorConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	cc := planner.DefaultCoordinatorConfig()
	cc.TicketTTL = 0
	if _, err := planner.NewCoordinator(cc, planner.CoordinatorDeps{}); err == nil {
		t.Error("coordinator with a zero ticket TTL accepted")
	}
	cc = planner.DefaultCoordinatorConfig()
	cc.MaxConcurrentPlans = 0
	if cc.Validate() == nil {
		t.Error("coordinator without planning slots accepted")
	}
}

func TestEmptyFolderPlansNoEndpoints(t *testing.T) {
	r := plannertest.New(t, map[string][]byte{"/data/.hidden.png": plannertest.PNG(t, 1, 1, 0)}, planner.DefaultCoordinatorConfig(), "")
	info := r.Plan(t, `{"path": "`+plannertest.Base+`"}`)
	if len(info.GetEndpoint()) != 0 || info.GetTotalRecords() != 0 {
		t.Errorf("%d endpoints, %d records for an empty folder", len(info.GetEndpoint()), info.GetTotalRecords())
	}
}
