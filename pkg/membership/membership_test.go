package membership

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func member(t *testing.T, name, role string, join []string, key []byte) *Member {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name, cfg.BindPort, cfg.Join, cfg.SecretKey, cfg.Local = name, 0, join, key, true
	cfg.RejoinInterval = 200 * time.Millisecond
	cfg.Meta = Meta{Role: role, Flight: "grpc://127.0.0.1:1", Host: "127.0.0.1", Capacity: 2, Version: "test"}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.Leave(ctx)
	})
	return m
}

func waitNodes(t *testing.T, m *Member, role string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if len(m.Nodes(role)) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s sees %d %q members, want %d", m.Name(), len(m.Nodes(role)), role, n)
}

func TestMembersFindEachOther(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	coord := member(t, "coord", RoleCoordinator, nil, key)
	var workers []*Member
	for i := 0; i < 3; i++ {
		workers = append(workers, member(t, fmt.Sprintf("w%d", i), RoleWorker, []string{coord.Addr()}, key))
	}
	waitNodes(t, coord, RoleWorker, 3)
	for _, n := range coord.Nodes(RoleWorker) {
		if n.Meta.Capacity != 2 || n.Meta.Flight == "" || !strings.HasPrefix(n.Name, "w") {
			t.Errorf("worker metadata not carried: %+v", n)
		}
	}
	// A worker that leaves disappears from the coordinator's view.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := workers[0].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitNodes(t, coord, RoleWorker, 2)
}

func TestWrongKeyCannotJoin(t *testing.T) {
	coord := member(t, "coord", RoleCoordinator, nil, []byte("0123456789abcdef0123456789abcdef"))
	member(t, "intruder", RoleWorker, []string{coord.Addr()}, []byte("another key, same length 32 byte"))
	time.Sleep(500 * time.Millisecond)
	if n := len(coord.Nodes(RoleWorker)); n != 0 {
		t.Errorf("a member with another gossip key joined (%d workers seen)", n)
	}
}

func TestMetaLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.BindPort = "big", 0
	cfg.Meta = Meta{Role: RoleWorker, Flight: strings.Repeat("x", 600)}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "512") {
		t.Errorf("oversized metadata: %v, want an error naming the 512-byte limit", err)
	}
}

func TestSecurityMismatch(t *testing.T) {
	own := Meta{Role: RoleCoordinator, Auth: true, TLS: true}
	tests := []struct {
		name string
		m    Meta
		want string // substring; "" for a match
	}{
		{"same", Meta{Auth: true, TLS: true}, ""},
		{"no auth", Meta{TLS: true}, "auth is off"},
		{"no TLS", Meta{Auth: true}, "TLS is off"},
		{"old member (neither field)", Meta{}, "auth is off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.SecurityMismatch(own)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("%q, want containing %q", got, tc.want)
			}
		})
	}
}
