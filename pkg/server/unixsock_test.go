package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/peer"
)

// A worker with a Unix socket advertises it after its TCP location; the Go
// client on the same host reads every batch through the socket, and the
// socket file (mode 0660, in a 0750 folder) goes away at shutdown.
func TestReadOverUnixSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness only
	defer cancel()
	sockDir := filepath.Join(t.TempDir(), "run")
	p, dir, entries := standalone(t, ctx, func(c *Config) { c.UnixSocketDir = sockDir })
	defer p.Shutdown(ctx)
	sock, ok := peer.UnixPath(p.UnixLocation())
	if !ok || filepath.Dir(sock) != sockDir {
		t.Fatalf("unix location %q, want a socket in %s", p.UnixLocation(), sockDir)
	}
	for path, want := range map[string]os.FileMode{sock: unixSocketMode, sockDir: 0o750} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
	cl := client.New(client.DefaultConfig(p.Location()))
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true, "numPartitions": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, ep := range info.GetEndpoint() {
		var locs []string
		for _, l := range ep.GetLocation() {
			locs = append(locs, l.GetUri())
		}
		if strings.Join(locs, " ") != p.Location()+" "+p.UnixLocation() {
			t.Errorf("endpoint %d locations %v, want TCP then the socket", i, locs)
		}
	}
	var mu sync.Mutex
	rows, via := 0, map[string]int{}
	if _, err := cl.ReadAll(ctx, info, func(b client.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		rows += int(b.Record.NumRows())
		via[b.Location]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rows != len(entries) || len(via) != 1 || via[p.UnixLocation()] == 0 {
		t.Errorf("read %d rows (want %d) from %v, want all through %s", rows, len(entries), via, p.UnixLocation())
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket %s after shutdown: %v", sock, err)
	}
}

// A socket nobody serves any more (its worker died) costs one failover:
// the endpoint is read from the worker's TCP location, every row once.
func TestDeadUnixLocationFailsOverToTCP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness only
	defer cancel()
	p, dir, entries := standalone(t, ctx, func(*Config) {})
	defer p.Shutdown(ctx)
	dead := staleSocket(t, filepath.Join(t.TempDir(), "dead.sock"))
	cl := client.New(client.DefaultConfig(p.Location()))
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true}`))
	if err != nil {
		t.Fatal(err)
	}
	rows, failovers := 0, 0
	for i, ep := range info.GetEndpoint() {
		ep.Location = append(ep.Location, &aflight.Location{Uri: peer.UnixPrefix + dead})
		fo, err := cl.ReadEndpoint(ctx, i, ep, func(b client.Batch) error {
			if b.Location != p.Location() {
				t.Errorf("batch from %s", b.Location)
			}
			rows += int(b.Record.NumRows())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		failovers += fo
	}
	if rows != len(entries) || failovers != len(info.GetEndpoint()) {
		t.Errorf("%d rows with %d failovers, want %d rows and one failover per endpoint (%d)", rows, failovers, len(entries), len(info.GetEndpoint()))
	}
}

// staleSocket leaves a socket file at path with nobody listening, as a
// killed process does.
func staleSocket(t *testing.T, path string) string {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	return path
}

func TestListenUnixRefusesUnsafePlaces(t *testing.T) {
	tmp := t.TempDir()
	open := filepath.Join(tmp, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	busy := filepath.Join(tmp, "busy")
	if err := os.Mkdir(busy, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(busy, "w.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file := filepath.Join(tmp, "file")
	if err := os.Mkdir(file, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(file, "w.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(tmp, "stale")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, filepath.Join(stale, "w.sock"))
	tests := []struct {
		name, dir, want string // want "" = listens
	}{
		{"world-writable folder", open, "writable by others"},
		{"socket in use", busy, "another process serves it"},
		{"not a socket", file, "not a socket"},
		{"too long", filepath.Join(tmp, strings.Repeat("d", 120)), "longer than"},
		{"stale socket replaced", stale, ""},
		{"new folder", filepath.Join(tmp, "new", "run"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, path, err := listenUnix(tc.dir, "w")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatalf("dial the new socket: %v", err)
			}
			c.Close()
		})
	}
}
