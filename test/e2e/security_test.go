package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/imageflight/imageflight/pkg/server/servertest"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// secureCluster starts a coordinator (users file) and one worker (token
// verification only) with TLS and auth, and waits until an authenticated
// cluster-status shows the worker reachable by the coordinator's own TLS,
// token-carrying status probe.
func secureCluster(t *testing.T, root string, pk servertest.PKI, coordArgs ...string) (*cluster, client.Config) {
	t.Helper()
	hash, err := server.HashPasswordPBKDF2("correct horse", server.MinPBKDF2Rounds) // cheap: the cost is not under test
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# e2e\nalice:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, roots: []string{root}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", append(append([]string{"127.0.0.1", "--auth-users-file", users}, pk.Flags()...), coordArgs...)...)
	w := c.addWorker("w1", append([]string{"--auth"}, pk.Flags()...)...)

	cfg := client.DefaultConfig("grpc+tls://" + c.coord.flight)
	cfg.TLSRootCAs, cfg.Username, cfg.Password = pk.Pool, "alice", "correct horse"
	cl := client.New(cfg)
	defer cl.Close()
	deadline := time.Now().Add(3 * time.Minute)
	var last any
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		body, err := cl.Action(ctx, "cluster-status", nil)
		cancel()
		var st wire.ClusterStatus
		if err == nil && json.Unmarshal(body, &st) == nil && len(st.Workers) == 1 {
			if ws := st.Workers[0]; ws.Location == "grpc+tls://"+w.flight && ws.Active >= 0 {
				return c, cfg
			}
		}
		last = st
		if err != nil {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("coordinator never saw the TLS worker reachable (last: %v)", last)
	return nil, cfg
}

func TestSecurityTLSAuthCluster(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	pk := servertest.NewPKI(t)
	c, cfg := secureCluster(t, dir, pk)
	req := map[string]any{"path": dir, "recursive": true, "numPartitions": 3}
	cmd, _ := json.Marshal(req)

	// Authenticated: the coordinator's token is accepted by the worker.
	info, rows, _ := readWith(t, cfg, req)
	want := map[string]corpus.Entry{}
	for _, e := range entries {
		want["file:"+dir+"/"+e.Rel] = e
	}
	checkRows(t, rows, want)
	for i, ep := range info.GetEndpoint() {
		for _, l := range ep.GetLocation() {
			if l.GetUri() != "grpc+tls://"+c.workers[0].flight {
				t.Errorf("endpoint %d location %s, want the worker's grpc+tls:// URI", i, l.GetUri())
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Run("unauthenticated GetFlightInfo", func(t *testing.T) {
		anon := cfg
		anon.Username, anon.Password = "", ""
		wantUnauthenticated(t, ctx, anon, cmd, "plan without token")
	})
	t.Run("unauthenticated DoGet on the worker", func(t *testing.T) {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pk.Pool})
		fc, err := aflight.NewClientWithMiddleware(c.workers[0].flight, nil, nil, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		s, err := fc.DoGet(ctx, info.GetEndpoint()[0].GetTicket())
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("DoGet with a valid ticket but no token: %v, want Unauthenticated", err)
		}
		// Basic credentials on the worker do not work either: it holds
		// no users, only verifies the coordinator's tokens.
		if _, err := fc.AuthenticateBasicToken(ctx, "alice", "correct horse"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("handshake on a token-only worker: %v, want Unauthenticated", err)
		}
	})
	t.Run("forged token", func(t *testing.T) {
		forged := cfg
		forged.Username, forged.Password, forged.Token = "", "", "aWZ0MXxhbGljZXw5OTk5OTk5OTk5.AAAA"
		wantUnauthenticated(t, ctx, forged, cmd, "plan with a forged token")
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.Password = "Correct horse"
		wantUnauthenticated(t, ctx, bad, cmd, "plan with a wrong password")
	})
	t.Run("plaintext client", func(t *testing.T) {
		plain := cfg
		plain.Coordinator = "grpc://" + c.coord.flight
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cl := client.New(plain)
		defer cl.Close()
		if _, err := cl.Plan(pctx, cmd); err == nil {
			t.Fatal("plaintext client planned against a TLS coordinator")
		}
		fc, err := aflight.NewClientWithMiddleware(c.workers[0].flight, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		s, err := fc.DoGet(pctx, info.GetEndpoint()[0].GetTicket())
		if err == nil {
			_, err = s.Recv()
		}
		if err == nil {
			t.Fatal("plaintext DoGet against a TLS worker succeeded")
		}
	})
	t.Run("untrusted CA", func(t *testing.T) {
		other := cfg
		other.TLSRootCAs = servertest.NewPKI(t).Pool
		cl := client.New(other)
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := cl.Plan(pctx, cmd); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("client trusting another CA: %v, want a certificate error", err)
		}
	})
}

// wantUnauthenticated plans cmd as cfg's user and fails t unless the
// coordinator refuses it as Unauthenticated; what names the attempt.
func wantUnauthenticated(t *testing.T, ctx context.Context, cfg client.Config, cmd []byte, what string) {
	t.Helper()
	cl := client.New(cfg)
	defer cl.Close()
	if _, err := cl.Plan(ctx, cmd); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("%s: %v, want Unauthenticated", what, err)
	}
}

// TestSecurityLargePlanTLSAuth makes every plan too large for inline
// tickets, so the worker fetches its split lists from the coordinator:
// worker → coordinator calls go over TLS with an internal token.
func TestSecurityLargePlanTLSAuth(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := secureCluster(t, dir, servertest.NewPKI(t), "--max-flightinfo-bytes", "1")
	_, rows, _ := readWith(t, cfg, map[string]any{"path": dir, "recursive": true, "numPartitions": 2})
	if len(rows) != len(entries) {
		t.Fatalf("%d rows, want %d", len(rows), len(entries))
	}
}
