package planner_test

import (
	"context"
	"strings"
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

// A worker's Unix socket is listed after every network location, so that a
// client taking the first location, or failing over in order, reaches a
// worker from any host (docs/protocol.md).
func TestUnixLocationsFollowNetworkLocations(t *testing.T) {
	r := plannertest.New(t, plannertest.Tree(t), planner.DefaultCoordinatorConfig(), "")
	workers := plannertest.StaticWorkers{
		{Name: "w1", Location: "grpc://w1:1", Unix: "grpc+unix:///run/if/w1.sock", Capacity: 1},
		{Name: "w2", Location: "grpc://w2:1", Capacity: 1},
	}
	c, err := planner.NewCoordinator(planner.DefaultCoordinatorConfig(), planner.CoordinatorDeps{Roots: r.Roots, Secret: plannertest.Secret, Mounts: r.Mounts, Workers: workers, Logger: r.Logger})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+plannertest.Base+`", "recursive": true, "numPartitions": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, ep := range info.GetEndpoint() {
		var got []string
		for _, l := range ep.GetLocation() {
			got = append(got, l.GetUri())
		}
		want := "grpc://w1:1 grpc://w2:1 grpc+unix:///run/if/w1.sock"
		if got[0] == "grpc://w2:1" {
			want = "grpc://w2:1 grpc://w1:1 grpc+unix:///run/if/w1.sock"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("endpoint %d locations %v, want %s", i, got, want)
		}
	}
}
