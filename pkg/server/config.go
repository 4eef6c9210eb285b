// Package server assembles one imageflight process — gossip membership,
// the Flight service (coordinator, worker or both), the metrics endpoint
// and graceful shutdown — from a plain Config. cmd/coordinator and
// cmd/worker only map flags onto it.
package server

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner"
)

// Version is reported in gossip metadata and cluster status.
var Version = "0.1.0"

// Role says what a process serves.
type Role int

// Roles.
const (
	RoleCoordinator Role = 1 << iota
	RoleWorker
	RoleStandalone = RoleCoordinator | RoleWorker
)

// Config is one process's configuration.
type Config struct {
	Role Role
	// Name is the unique member name; default role-host-port.
	Name string
	// Listen is the Flight listen address; Advertise is what others dial
	// (default: Listen).
	Listen, Advertise string
	// UnixSocketDir, when set, makes a worker also listen on a Unix domain
	// socket there (named after the member, mode 0660) and advertise it as
	// an extra grpc+unix:// location: clients on this host read through it
	// at a fraction of loopback TCP's CPU; others keep TCP.
	UnixSocketDir string
	// GossipListen is the memberlist address; GossipAdvertise what others
	// reach (default: GossipListen).
	GossipListen, GossipAdvertise string
	// Join lists seed members (host:port); workers join the coordinator.
	Join []string
	// Roots confine what may be listed and served (repeatable --root).
	Roots []string
	// SecretFile holds the cluster secret (signs tickets, encrypts
	// gossip). A coordinator creates it when missing; a worker requires it.
	SecretFile string
	// Host is matched against HDFS replica hosts for locality; default:
	// the Flight advertise host.
	Host string
	// Capacity is the decode slots published to the coordinator.
	Capacity int
	// MetricsListen serves Prometheus /metrics when set, and the console
	// unless HTTPListen is set.
	MetricsListen string
	// HTTPListen serves the console on its own address.
	HTTPListen string
	// Console builds the web console's handler once the process is up (nil:
	// no console). It is served under / on HTTPListen or MetricsListen
	// (neither: not served), behind this process's TLS and authentication
	// (see serveHTTP).
	Console func(*Process) (http.Handler, error)
	// DrainTimeout bounds how long SIGTERM waits for in-flight streams.
	DrainTimeout time.Duration
	// ProbeInterval is how often the coordinator checks each worker
	// directly; two failed checks keep it out of new plans (0 disables).
	ProbeInterval time.Duration
	// LocalGossip selects memberlist's loopback timings (tests).
	LocalGossip bool

	// HDFS says how to reach hdfs:// roots (Hadoop configuration, user,
	// Kerberos, timeouts). NameNodes, when set, serve every hdfs:// authority.
	HDFS hdfsio.HDFSConfig
	// NameNodeHTTP overrides the WebHDFS addresses asked for block
	// locations (default: from the Hadoop configuration, else host:9870).
	NameNodeHTTP []string

	Coordinator planner.CoordinatorConfig
	Worker      pipeline.WorkerConfig
	// Security is TLS and client authentication (default: neither).
	Security SecurityConfig
	Logger   *slog.Logger
}

// DefaultSecretFile is where the cluster secret lives unless configured:
// the user's configuration folder, never a shared temporary folder where
// another user could plant one. "" when the user has no such folder.
func DefaultSecretFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "imageflight", "cluster-secret")
}

// DefaultConfig returns a standalone process on loopback.
func DefaultConfig() Config {
	return Config{
		Role: RoleStandalone,
		// Loopback until told otherwise: serving the network is a choice.
		Listen: "127.0.0.1:8815",
		// No socket file unless asked: where it may live (a folder only
		// this service writes) is the operator's choice.
		UnixSocketDir: "",
		GossipListen:  "127.0.0.1:7946",
		SecretFile:    DefaultSecretFile(),
		// One decode slot per core: decoding is CPU-bound.
		Capacity: runtime.GOMAXPROCS(0),
		// Long enough for a split of large images to finish streaming, short
		// enough for a rolling restart.
		DrainTimeout: 30 * time.Second,
		// Two failed probes a second apart bench a worker long before
		// gossip's suspicion timeout would.
		ProbeInterval: time.Second,
		HDFS:          hdfsio.DefaultHDFSConfig(),
		Coordinator:   planner.DefaultCoordinatorConfig(),
		Worker:        pipeline.DefaultWorkerConfig(),
		Logger:        slog.Default(),
	}
}

// Validate checks the whole configuration once, at start: everything a
// process needs before it opens a port.
func (c Config) Validate() error {
	switch {
	case c.Role&RoleStandalone == 0:
		return errors.New("role must be coordinator, worker or both")
	case len(c.Roots) == 0:
		return errors.New("at least one --root is required: the folders or hdfs:// paths this cluster may serve")
	case c.SecretFile == "":
		return errors.New("--secret-file is required (no user configuration folder to default to)")
	case c.Role == RoleWorker && len(c.Join) == 0:
		return errors.New("--join is required: the coordinator's gossip address, e.g. 127.0.0.1:7946")
	case c.Capacity <= 0:
		return fmt.Errorf("--capacity must be positive, got %d", c.Capacity)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("--drain-timeout must be positive, got %s", c.DrainTimeout)
	case c.ProbeInterval < 0:
		return fmt.Errorf("probe interval must not be negative, got %s", c.ProbeInterval)
	}
	if err := c.validateUnixSocket(); err != nil {
		return err
	}
	if _, err := hdfsio.ParseRoots(c.Roots); err != nil {
		return err
	}
	for name, addr := range map[string]string{"--listen": c.Listen, "--gossip-listen": c.GossipListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: %w", name, addr, err)
		}
	}
	if c.Role&RoleCoordinator != 0 {
		if err := c.Coordinator.Validate(); err != nil {
			return err
		}
	}
	if c.Role&RoleWorker != 0 {
		if err := c.Worker.Validate(); err != nil {
			return err
		}
	}
	if (c.Security.TLSCert == "") != (c.Security.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	return nil
}

func (c Config) validateUnixSocket() error {
	switch {
	case c.UnixSocketDir == "":
		return nil
	case !filepath.IsAbs(c.UnixSocketDir):
		return fmt.Errorf("--unix-socket-dir %q: must be an absolute path (clients find the socket by it)", c.UnixSocketDir)
	case c.Role&RoleWorker == 0:
		return errors.New("--unix-socket-dir serves DoGet: it needs a worker (or --standalone)")
	case c.Security.TLSCert != "":
		return errors.New("--unix-socket-dir serves plaintext gRPC (grpc+unix://); it cannot be combined with --tls-cert")
	}
	return nil
}

// loadSecret reads the cluster secret, creating it (0600) if create is set
// and the file does not exist.
func loadSecret(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		enc := []byte(fmt.Sprintf("%x\n", secret))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create secret %s: %w", path, err)
		}
		if err := os.WriteFile(path, enc, 0o600); err != nil {
			return nil, fmt.Errorf("create secret %s: %w", path, err)
		}
		return []byte(strings.TrimSpace(string(enc))), nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster secret %s: %w (copy the coordinator's secret file here or pass --secret-file)", path, err)
	}
	if err := checkSecretFile(path); err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return nil, fmt.Errorf("cluster secret %s: too short (%d bytes); use at least 16 random bytes", path, len(s))
	}
	return []byte(s), nil
}

// checkSecretFile refuses a secret others could have read or planted, as
// ssh does for private keys: it must be the user's own and not readable by
// group or others.
func checkSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cluster secret %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("cluster secret %s: readable by group or others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("cluster secret %s: owned by uid %d, not by this user (uid %d)", path, st.Uid, os.Getuid())
	}
	return nil
}

// gossipKey derives memberlist's AES key from the cluster secret, so one
// secret both signs tickets and encrypts gossip.
func gossipKey(secret []byte) []byte {
	k := sha256.Sum256(append([]byte("imageflight gossip key\x00"), secret...))
	return k[:]
}
