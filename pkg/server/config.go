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
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/imageflight/imageflight/pkg/flight"
	"github.com/imageflight/imageflight/pkg/hdfsio"
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
	// MetricsListen serves Prometheus /metrics when set.
	MetricsListen string
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

	Coordinator flight.CoordinatorConfig
	Worker      flight.WorkerConfig
	// Security is TLS and client authentication (default: neither).
	Security SecurityConfig
	Logger   *slog.Logger
}

// DefaultSecretFile is where the cluster secret lives unless configured.
func DefaultSecretFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "imageflight", "cluster-secret")
}

// DefaultConfig returns a standalone process on loopback.
func DefaultConfig() Config {
	return Config{
		Role:          RoleStandalone,
		Listen:        "127.0.0.1:8815",
		GossipListen:  "127.0.0.1:7946",
		SecretFile:    DefaultSecretFile(),
		Capacity:      runtime.GOMAXPROCS(0),
		DrainTimeout:  30 * time.Second,
		ProbeInterval: time.Second,
		HDFS:          hdfsio.DefaultHDFSConfig(),
		Coordinator:   flight.DefaultCoordinatorConfig(),
		Worker:        flight.DefaultWorkerConfig(),
		Logger:        slog.Default(),
	}
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
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return nil, fmt.Errorf("cluster secret %s: too short (%d bytes); use at least 16 random bytes", path, len(s))
	}
	return []byte(s), nil
}

// gossipKey derives memberlist's AES key from the cluster secret, so one
// secret both signs tickets and encrypts gossip.
func gossipKey(secret []byte) []byte {
	k := sha256.Sum256(append([]byte("imageflight gossip key\x00"), secret...))
	return k[:]
}
