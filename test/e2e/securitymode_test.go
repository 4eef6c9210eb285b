package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/imageflight/imageflight/pkg/wire"
)

// TestWorkerWithoutAuthIsNotPlanned: in a cluster that requires auth, a
// worker started without --auth joins gossip but is never planned, and
// cluster-status says why.
func TestWorkerWithoutAuthIsNotPlanned(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	hash, err := server.HashPasswordPBKDF2("correct horse", server.MinPBKDF2Rounds) // cheap: the cost is not under test
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, roots: []string{dir}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1", "--auth-users-file", users)
	secure := c.addWorker("w1", "--auth")
	open := c.addWorker("w2")

	cfg := client.DefaultConfig(c.location())
	cfg.Username, cfg.Password = "alice", "correct horse"
	cl := client.New(cfg)
	defer cl.Close()
	var st wire.ClusterStatus
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		body, err := cl.Action(ctx, wire.ActionClusterStatus, nil)
		cancel()
		st = wire.ClusterStatus{}
		if err == nil && json.Unmarshal(body, &st) == nil && len(st.Members) == 3 && len(st.Workers) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster never showed 3 members, 1 plannable worker: %+v, %v", st, err)
		}
	}
	if st.Workers[0].Name != "w1" {
		t.Errorf("plannable worker %s, want w1", st.Workers[0].Name)
	}
	for _, m := range st.Members {
		if m.Name == "w2" && (m.State != "mismatched" || !strings.Contains(m.Reason, "auth is off")) {
			t.Errorf("w2 without auth: state %q reason %q, want mismatched naming auth", m.State, m.Reason)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, _ := json.Marshal(map[string]any{"path": dir, "recursive": true, "numPartitions": 4})
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range info.GetEndpoint() {
		for _, l := range ep.GetLocation() {
			if l.GetUri() != "grpc://"+secure.flight {
				t.Errorf("endpoint at %s; only the auth worker %s may be planned (not %s)", l.GetUri(), secure.flight, open.flight)
			}
		}
	}
}
