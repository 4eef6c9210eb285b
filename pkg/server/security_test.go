package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/server/servertest"
	"github.com/imageflight/imageflight/pkg/wire"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestAuthValidator(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	// The validator checks any cost the hash records (LoadUsers enforces
	// the minimum): bcrypt's cheapest keeps the test fast under -race.
	bcb, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	bc := string(bcb)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := hashPBKDF2("pyth0n", MinPBKDF2Rounds)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tokens := newTokenAuthority(secret)
	tokens.now = func() time.Time { return now }
	users := map[string]string{"alice": bc, "bob": pb}
	v := &authValidator{users: users, tokens: tokens, ttl: time.Hour, dummy: dummyHashFor(users)}
	good := tokens.mint("alice", now.Add(time.Minute))
	other := newTokenAuthority([]byte("another cluster's secret, 32 b!!"))
	payload, sig, _ := strings.Cut(good, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	forgedUser := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "alice", "admin", 1))) + "." + sig
	longer := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "|18", "|98", 1))) + "." + sig

	t.Run("Validate", func(t *testing.T) {
		for _, tc := range []struct {
			name, user, pass string
			ok               bool
		}{
			{"bcrypt good", "alice", "s3cret", true},
			{"pbkdf2 good", "bob", "pyth0n", true},
			{"bad password", "alice", "s3cret ", false},
			{"other user's password", "bob", "s3cret", false},
			{"unknown user", "mallory", "s3cret", false},
			{"empty", "", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok, err := v.Validate(tc.user, tc.pass)
				if !tc.ok {
					if status.Code(err) != codes.Unauthenticated || tok != "" {
						t.Fatalf("Validate(%q, %q) = %q, %v; want Unauthenticated", tc.user, tc.pass, tok, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				id, err := v.IsValid(tok)
				if err != nil || id != tc.user {
					t.Fatalf("IsValid(issued token) = %v, %v", id, err)
				}
				now := now
				tokens.now = func() time.Time { return now.Add(time.Hour + time.Second) }
				defer func() { tokens.now = func() time.Time { return now } }()
				if _, err := v.IsValid(tok); status.Code(err) != codes.Unauthenticated {
					t.Fatalf("token past its TTL: %v", err)
				}
			})
		}
	})

	t.Run("IsValid", func(t *testing.T) {
		for _, tc := range []struct {
			name, token string
			want        string // "" → Unauthenticated
		}{
			{"good", good, "alice"},
			{"internal", tokens.mint(InternalCoordinatorUser, now.Add(time.Minute)), InternalCoordinatorUser},
			{"expired", tokens.mint("alice", now.Add(-time.Second)), ""},
			{"expires now", tokens.mint("alice", now), ""},
			{"other cluster secret", other.mint("alice", now.Add(time.Minute)), ""},
			{"tampered user", forgedUser, ""},
			{"tampered expiry", longer, ""},
			{"tampered signature", payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), ""},
			{"signature only", "." + sig, ""},
			{"no signature", payload, ""},
			{"empty", "", ""},
			{"garbage", "not a token", ""},
			{"ticket-style signature with raw secret", func() string {
				s, _ := wire.NewSigner(secret).Sign(&wire.Ticket{Plan: "p", Expires: now.Unix() + 60})
				return string(s)
			}(), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id, err := v.IsValid(tc.token)
				if tc.want == "" {
					if status.Code(err) != codes.Unauthenticated {
						t.Fatalf("IsValid = %v, %v; want Unauthenticated", id, err)
					}
					return
				}
				if err != nil || id != tc.want {
					t.Fatalf("IsValid = %v, %v; want %q", id, err, tc.want)
				}
			})
		}
	})

	t.Run("no users", func(t *testing.T) {
		w := &authValidator{tokens: tokens, ttl: time.Hour}
		if _, err := w.Validate("alice", "s3cret"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("handshake on a token-only worker: %v", err)
		}
		if id, err := w.IsValid(good); err != nil || id != "alice" {
			t.Fatalf("token-only worker rejects the coordinator's token: %v", err)
		}
	})
}

func TestAuthLoadUsers(t *testing.T) {
	bcb, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.DefaultCost) // the least LoadUsers accepts
	bc := string(bcb)
	pb, _ := hashPBKDF2("x", MinPBKDF2Rounds)
	weak, _ := hashPBKDF2("x", MinPBKDF2Rounds)
	cheap, _ := bcrypt.GenerateFromPassword([]byte("x"), 4)
	weak = strings.Replace(weak, fmt.Sprintf("$%d$", MinPBKDF2Rounds), "$1000$", 1)
	for _, tc := range []struct {
		name, file string
		err        string // "" → ok
	}{
		{"ok", "# users\n\nalice:" + bc + "\nbob:" + pb + "\n", ""},
		{"plain password", "alice:hunter2\n", "unknown hash format"},
		{"missing hash", "alice\n", "want user:hash"},
		{"duplicate", "alice:" + bc + "\nalice:" + pb + "\n", "listed twice"},
		{"reserved", "imageflight-coordinator:" + bc + "\n", "reserved"},
		{"bar in name", "a|b:" + bc + "\n", "may not contain"},
		{"few rounds", "alice:" + weak + "\n", "at least"},
		{"broken bcrypt", "alice:$2b$12$short\n", "bcrypt"},
		{"cheap bcrypt", "alice:" + string(cheap) + "\n", "need at least"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "users")
			os.WriteFile(p, []byte(tc.file), 0o600)
			users, err := LoadUsers(p)
			if tc.err == "" {
				if err != nil || len(users) != 2 {
					t.Fatalf("LoadUsers = %v, %v", users, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("LoadUsers error %v; want %q", err, tc.err)
			}
		})
	}
}

// TestHashPasswordPBKDF2: the hash records its rounds, so it verifies at
// any cost from the minimum up; fewer rounds are refused.
func TestHashPasswordPBKDF2(t *testing.T) {
	for _, rounds := range []int{MinPBKDF2Rounds, MinPBKDF2Rounds + 1, 2 * MinPBKDF2Rounds} {
		h, err := HashPasswordPBKDF2("pw", rounds)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _, err := parsePBKDF2(h); err != nil || got != rounds {
			t.Errorf("rounds %d: hash %q records %d, %v", rounds, h, got, err)
		}
		if err := checkHashFormat(h); err != nil {
			t.Errorf("rounds %d: users file refuses it: %v", rounds, err)
		}
		if !checkPassword(h, "pw") || checkPassword(h, "pw ") {
			t.Errorf("rounds %d: password check wrong", rounds)
		}
	}
	if h, err := HashPasswordPBKDF2("pw", MinPBKDF2Rounds-1); err == nil {
		t.Errorf("%d rounds accepted: %q", MinPBKDF2Rounds-1, h)
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pk := servertest.NewPKI(t)
	ca, cert, key := pk.CA, pk.Cert, pk.Key
	secret := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name string
		cfg  SecurityConfig
		err  string
	}{
		{"cert without key", SecurityConfig{TLSCert: cert}, "go together"},
		{"key is not the cert's", SecurityConfig{TLSCert: cert, TLSKey: ca}, "--tls-cert"},
		{"ca not PEM", SecurityConfig{TLSCA: filepath.Join(dir, "nope")}, "--tls-ca"},
		{"ca is a key", SecurityConfig{TLSCA: key}, "no PEM certificate"},
		{"users file missing", SecurityConfig{AuthUsersFile: filepath.Join(dir, "nope")}, "--auth-users-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newSecurity(tc.cfg, secret, RoleWorker, nil, "127.0.0.1:1")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("newSecurity error %v; want %q", err, tc.err)
			}
		})
	}
	s, err := newSecurity(SecurityConfig{TLSCert: cert, TLSKey: key, TLSCA: ca, Auth: true}, secret, RoleCoordinator, nil, "")
	if err != nil || s.scheme() != "grpc+tls" || s.validator == nil || s.user != InternalCoordinatorUser {
		t.Fatalf("newSecurity = %+v, %v", s, err)
	}
}

// TestSecurityStandaloneTLSAuth runs an in-process standalone server with
// TLS and auth: the Go client reads through it, the cluster-status action
// reaches the (TLS, authenticated) worker side, and unauthenticated or
// plaintext clients are refused.
func TestSecurityStandaloneTLSAuth(t *testing.T) {
	dir := t.TempDir()
	pk := servertest.NewPKI(t)
	ca, cert, key := pk.CA, pk.Cert, pk.Key
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	// The hash cost is not this test's subject: PBKDF2 at the minimum
	// rounds keeps each login to milliseconds (bcrypt at cost 12 took
	// ~10 s per login under -race on a loaded machine).
	hash, err := HashPasswordPBKDF2("pw", MinPBKDF2Rounds)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("alice:"+hash+"\n"), 0o600)

	cfg := DefaultConfig()
	cfg.Listen, cfg.GossipListen = "127.0.0.1:0", servertest.FreeAddr(t, "127.0.0.1")
	cfg.SecretFile = filepath.Join(dir, "secret")
	cfg.Roots = []string{data}
	cfg.LocalGossip = true
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.Security = SecurityConfig{TLSCert: cert, TLSKey: key, TLSCA: ca, AuthUsersFile: users}
	ctx := context.Background()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	if !strings.HasPrefix(p.Location(), "grpc+tls://") {
		t.Fatalf("Location() = %s", p.Location())
	}

	ccfg := client.DefaultConfig(p.Location())
	ccfg.TLSCAFile, ccfg.Username, ccfg.Password = ca, "alice", "pw"
	cl := client.New(ccfg)
	defer cl.Close()
	// A liveness bound: the work (gossip, one probe, a few logins) takes
	// well under a second on an idle machine.
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var st wire.ClusterStatus
	for {
		body, err := cl.Action(cctx, wire.ActionClusterStatus, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		// Active ≥ 0: the internal status probe dialed grpc+tls:// with
		// --tls-ca and an internal token.
		if len(st.Workers) == 1 && st.Workers[0].Active >= 0 && st.Workers[0].Location == p.Location() {
			break
		}
		if cctx.Err() != nil {
			t.Fatalf("cluster status never showed a reachable TLS worker: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd, _ := json.Marshal(map[string]any{"path": data})
	if _, err := cl.Plan(cctx, cmd); err != nil {
		t.Fatalf("authenticated plan: %v", err)
	}

	anon := ccfg
	anon.Username, anon.Password = "", ""
	ac := client.New(anon)
	defer ac.Close()
	if _, err := ac.Plan(cctx, cmd); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unauthenticated plan: %v", err)
	}
	bad := ccfg
	bad.Password = "wrong"
	bc := client.New(bad)
	defer bc.Close()
	if _, err := bc.Plan(cctx, cmd); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
}
