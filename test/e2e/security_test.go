package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// pki is a throwaway CA and one leaf for 127.0.0.1..5, written at test time.
type pki struct {
	ca, cert, key string
	pool          *x509.CertPool
}

func newPKI(t testing.TB) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imageflight e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "imageflight e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for i := 1; i <= 5; i++ {
		leaf.IPAddresses = append(leaf.IPAddresses, net.IPv4(127, 0, 0, byte(i)))
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER), cert: write("cert.pem", "CERTIFICATE", der),
		key: write("key.pem", "PRIVATE KEY", keyDER), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	return p
}

func (p pki) flags() []string {
	return []string{"--tls-cert", p.cert, "--tls-key", p.key, "--tls-ca", p.ca}
}

// secureCluster starts a coordinator (users file) and one worker (token
// verification only) with TLS and auth, and waits until an authenticated
// cluster-status shows the worker reachable by the coordinator's own TLS,
// token-carrying status probe.
func secureCluster(t *testing.T, root string, pk pki, coordArgs ...string) (*cluster, client.Config) {
	t.Helper()
	hash, err := server.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# e2e\nalice:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, roots: []string{root}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", append(append([]string{"127.0.0.1", "--auth-users-file", users}, pk.flags()...), coordArgs...)...)
	w := c.addWorker("w1", append([]string{"--auth"}, pk.flags()...)...)

	cfg := client.DefaultConfig("grpc+tls://" + c.coord.flight)
	cfg.TLSRootCAs, cfg.Username, cfg.Password = pk.pool, "alice", "correct horse"
	cl := client.New(cfg)
	defer cl.Close()
	deadline := time.Now().Add(45 * time.Second)
	var last any
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := cl.Action(ctx, "cluster-status", nil)
		cancel()
		var st server.ClusterStatus
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

func readWith(t *testing.T, cfg client.Config, req map[string]any) (*aflight.FlightInfo, []got) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := client.New(cfg)
	defer cl.Close()
	cmd, _ := json.Marshal(req)
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var (
		mu   sync.Mutex
		rows []got
	)
	if _, err := cl.ReadAll(ctx, info, func(b client.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		img := b.Record.Column(0).(*array.Struct)
		for i := 0; i < int(b.Record.NumRows()); i++ {
			r := imagerow.At(img, i)
			r.Data = bytes.Clone(r.Data)
			g := got{row: r, parts: map[string]string{}}
			for c := 1; c < int(b.Record.NumCols()); c++ {
				if b.Record.Column(c).IsValid(i) {
					g.parts[b.Record.ColumnName(c)] = b.Record.Column(c).ValueStr(i)
				}
			}
			rows = append(rows, g)
		}
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].row.Origin < rows[j].row.Origin })
	return info, rows
}

func TestSecurityTLSAuthCluster(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	pk := newPKI(t)
	c, cfg := secureCluster(t, dir, pk)
	req := map[string]any{"path": dir, "recursive": true, "numPartitions": 3}
	cmd, _ := json.Marshal(req)

	// Authenticated: the coordinator's token is accepted by the worker.
	info, rows := readWith(t, cfg, req)
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

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("unauthenticated GetFlightInfo", func(t *testing.T) {
		anon := cfg
		anon.Username, anon.Password = "", ""
		cl := client.New(anon)
		defer cl.Close()
		if _, err := cl.Plan(ctx, cmd); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("plan without token: %v, want Unauthenticated", err)
		}
	})
	t.Run("unauthenticated DoGet on the worker", func(t *testing.T) {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pk.pool})
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
		cl := client.New(forged)
		defer cl.Close()
		if _, err := cl.Plan(ctx, cmd); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("plan with a forged token: %v, want Unauthenticated", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.Password = "Correct horse"
		cl := client.New(bad)
		defer cl.Close()
		if _, err := cl.Plan(ctx, cmd); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("plan with a wrong password: %v, want Unauthenticated", err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		plain := cfg
		plain.Coordinator = "grpc://" + c.coord.flight
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
		other.TLSRootCAs = newPKI(t).pool
		cl := client.New(other)
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := cl.Plan(pctx, cmd); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("client trusting another CA: %v, want a certificate error", err)
		}
	})
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
	_, cfg := secureCluster(t, dir, newPKI(t), "--max-flightinfo-bytes", "1")
	_, rows := readWith(t, cfg, map[string]any{"path": dir, "recursive": true, "numPartitions": 2})
	if len(rows) != len(entries) {
		t.Fatalf("%d rows, want %d", len(rows), len(entries))
	}
}
