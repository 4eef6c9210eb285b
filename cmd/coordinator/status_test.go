package main

import (
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/membership"
	"github.com/imageflight/imageflight/pkg/wire"
)

func TestWriteStatusActiveColumn(t *testing.T) {
	st := wire.ClusterStatus{Members: []wire.MemberStatus{
		{Name: "coord", Role: membership.RoleCoordinator, State: "alive", Active: -1},
		{Name: "w1", Role: membership.RoleWorker, State: "alive", Capacity: 2, Active: 3},
		{Name: "w2", Role: membership.RoleWorker, State: "unreachable", Capacity: 2, Active: -1},
		{Name: "w3", Role: membership.RoleWorker, State: "alive", Capacity: 2, Active: 0},
	}}
	var b strings.Builder
	if err := writeStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), b.String())
	}
	col := strings.Index(lines[0], "ACTIVE")
	want := map[string]string{"coord": "-", "w1": "3", "w2": "?", "w3": "0"}
	for _, l := range lines[1:] {
		name := strings.Fields(l)[0]
		if got := strings.Fields(l[col:])[0]; got != want[name] {
			t.Errorf("%s: ACTIVE %q, want %q\n%s", name, got, want[name], b.String())
		}
	}
}
