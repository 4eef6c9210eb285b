package cliconfig

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/server"
)

// parse runs args through the serve flags and returns the mapped config.
func parse(t *testing.T, env map[string]string, args ...string) (server.Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cfg server.Config
	var cerr error
	app := &cli.App{Flags: ServeFlags("127.0.0.1:8815", "127.0.0.1:7946"), Action: func(c *cli.Context) error {
		cfg, cerr = Config(c, server.RoleWorker)
		return nil
	}}
	if err := app.Run(append([]string{"worker"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, cerr
}

func TestFlagsMapOntoConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(server.Config) bool
	}{
		{"flags", nil, []string{"--root", "/a", "--root", "/b", "--decoders", "3", "--batch-bytes", "1000", "--drain-timeout", "5s"},
			func(c server.Config) bool {
				return strings.Join(c.Roots, ",") == "/a,/b" && c.Worker.Parallelism == 3 && c.Worker.BatchBytes == 1000 && c.DrainTimeout == 5*time.Second
			}},
		{"environment", map[string]string{"IMAGEFLIGHT_ROOT": "/x,/y", "IMAGEFLIGHT_JOIN": "127.0.0.1:7946", "IMAGEFLIGHT_MAX_PIXELS": "100"}, nil,
			func(c server.Config) bool {
				return strings.Join(c.Roots, ",") == "/x,/y" && c.Join[0] == "127.0.0.1:7946" && c.Worker.Decode.MaxPixels == 100
			}},
		{"max streams follow decoders", nil, []string{"--decoders", "5"},
			func(c server.Config) bool { return c.Worker.MaxStreams == 20 }},
		{"max streams when set", nil, []string{"--decoders", "5", "--max-streams", "2"},
			func(c server.Config) bool { return c.Worker.MaxStreams == 2 }},
		{"security", nil, []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--auth"},
			func(c server.Config) bool {
				return c.Security.TLSCert == "c.pem" && c.Security.TLSKey == "k.pem" && c.Security.AuthEnabled()
			}},
		{"unix socket", map[string]string{"IMAGEFLIGHT_UNIX_SOCKET_DIR": "/run/imageflight"}, nil,
			func(c server.Config) bool { return c.UnixSocketDir == "/run/imageflight" }},
		{"plan store", nil, []string{"--plan-store-bytes", "1234"},
			func(c server.Config) bool { return c.Coordinator.PlanStoreBytes == 1234 }},
		{"hardening flags", nil, []string{"--memory-budget", "1000000", "--send-timeout", "7s", "--max-concurrent-plans", "3"},
			func(c server.Config) bool {
				return c.Worker.MemoryBudget == 1000000 && c.Worker.SendTimeout == 7*time.Second && c.Coordinator.MaxConcurrentPlans == 3
			}},
		{"hardening environment", map[string]string{"IMAGEFLIGHT_MEMORY_BUDGET": "2000000", "IMAGEFLIGHT_SEND_TIMEOUT": "9s", "IMAGEFLIGHT_MAX_CONCURRENT_PLANS": "5"}, nil,
			func(c server.Config) bool {
				return c.Worker.MemoryBudget == 2000000 && c.Worker.SendTimeout == 9*time.Second && c.Coordinator.MaxConcurrentPlans == 5
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	if _, err := parse(t, nil, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad log level: %v", err)
	}
	if _, err := parse(t, nil, "--kerberos-keytab", "k"); err == nil || !strings.Contains(err.Error(), "--kerberos-principal") {
		t.Errorf("keytab without principal: %v", err)
	}
	cfg, err := parse(t, nil) // no root: mapping succeeds, validation refuses
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--root") {
		t.Errorf("no root: %v", err)
	}
}

func TestClientSecurity(t *testing.T) {
	dir := t.TempDir()
	pw := dir + "/pw"
	if err := writeFile(pw, "s3cret\n"); err != nil {
		t.Fatal(err)
	}
	app := &cli.App{Flags: ClientFlags(), Action: func(c *cli.Context) error {
		cfg := client.DefaultConfig("grpc://c:1")
		if err := ClientSecurity(c, &cfg); err != nil {
			return err
		}
		if cfg.Username != "ann" || cfg.Password != "s3cret" || cfg.TLSCAFile != "ca.pem" {
			t.Errorf("client config %+v", cfg)
		}
		return nil
	}}
	if err := app.Run([]string{"status", "--user", "ann", "--password-file", pw, "--tls-ca", "ca.pem"}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
