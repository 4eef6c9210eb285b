package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Roots = []string{"/data"}
	ok.SecretFile = "/x/secret"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no root", func(c *Config) { c.Roots = nil }, "--root"},
		{"bad root", func(c *Config) { c.Roots = []string{"ftp://x/y"} }, "ftp"},
		{"no secret file", func(c *Config) { c.SecretFile = "" }, "--secret-file"},
		{"worker without join", func(c *Config) { c.Role = RoleWorker }, "--join"},
		{"no role", func(c *Config) { c.Role = 0 }, "role"},
		{"bad listen", func(c *Config) { c.Listen = "nowhere" }, "--listen"},
		{"zero decoders", func(c *Config) { c.Worker.Parallelism = 0 }, "decoders"},
		{"zero ticket TTL", func(c *Config) { c.Coordinator.TicketTTL = 0 }, "ticket TTL"},
		{"half a TLS pair", func(c *Config) { c.Security.TLSCert = "c.pem" }, "--tls-key"},
		{"relative unix socket dir", func(c *Config) { c.UnixSocketDir = "run" }, "absolute"},
		{"unix socket without a worker", func(c *Config) { c.UnixSocketDir, c.Role = "/run/if", RoleCoordinator }, "worker"},
		{"unix socket with TLS", func(c *Config) {
			c.UnixSocketDir, c.Security.TLSCert, c.Security.TLSKey = "/run/if", "c.pem", "k.pem"
		}, "plaintext"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSecretFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if _, err := loadSecret(path, true); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := loadSecret(path, false); err != nil {
		t.Fatalf("own 0600 secret refused: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret(path, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret accepted: %v", err)
	}
	if os.Getuid() == 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSecret(path, false); err == nil || !strings.Contains(err.Error(), "owned by uid 12345") {
			t.Errorf("another user's secret accepted: %v", err)
		}
	}
	t.Setenv("HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	if got := DefaultSecretFile(); got != "" && strings.HasPrefix(got, os.TempDir()) {
		t.Errorf("default secret in the shared temp folder: %s", got)
	}
}
