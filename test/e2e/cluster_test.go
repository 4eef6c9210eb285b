// Package e2e runs imageflight as real processes — a coordinator and
// workers on separate 127.0.0.x addresses — and reads through them with the
// Go Flight client.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/server/servertest"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imageflight-e2e-bin-")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/coordinator", "../../cmd/worker")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running imageflight process.
type proc struct {
	name   string
	bin    string
	args   []string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	flight string // host:port
	gossip string
}

// cluster is a coordinator and its workers.
type cluster struct {
	t       testing.TB
	secret  string
	roots   []string
	coord   *proc
	workers []*proc
}

func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	p := &proc{name: name, log: &bytes.Buffer{}}
	bin := "worker"
	if strings.HasPrefix(name, "coord") {
		bin = "coordinator"
	}
	host := args[0]
	args = args[1:]
	p.flight, p.gossip = servertest.FreeAddr(c.t, host), servertest.FreeAddr(c.t, host)
	full := []string{"--listen", p.flight, "--gossip-listen", p.gossip, "--secret-file", c.secret,
		"--name", name, "--local-gossip", "--log-level", "debug", "--drain-timeout", "5s"}
	for _, r := range c.roots {
		full = append(full, "--root", r)
	}
	p.bin, p.args = bin, append(full, args...)
	c.run(p)
	c.t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if c.t.Failed() {
			c.t.Logf("--- log of %s ---\n%s", name, p.log.String())
		}
	})
	return p
}

// run (re)starts p's process with its recorded arguments.
func (c *cluster) run(p *proc) {
	c.t.Helper()
	p.cmd = exec.Command(filepath.Join(binDir, p.bin), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", p.name, err)
	}
}

func (p *proc) kill(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, sig)
	if sig == syscall.SIGKILL {
		p.cmd.Wait()
	}
}

// wait waits for p to exit by itself and returns its exit error.
func (p *proc) wait(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
}

// startCluster starts a coordinator on 127.0.0.1 and n workers on
// 127.0.0.2.., all serving roots, and waits until the coordinator sees
// every worker alive.
func startCluster(t testing.TB, n int, roots ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, roots: roots, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1")
	for i := 0; i < n; i++ {
		c.addWorker(fmt.Sprintf("w%d", i+1))
	}
	c.waitWorkers(n)
	return c
}

func (c *cluster) addWorker(name string, args ...string) *proc {
	host := fmt.Sprintf("127.0.0.%d", len(c.workers)+2)
	// Workers need the secret the coordinator writes at start-up.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(c.secret); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := c.start(name, append([]string{host, "--join", c.coord.gossip}, args...)...)
	c.workers = append(c.workers, w)
	return w
}

// status asks the coordinator for cluster-status.
func (c *cluster) status(ctx context.Context) (wire.ClusterStatus, error) {
	var st wire.ClusterStatus
	fc, err := aflight.NewClientWithMiddleware(c.coord.flight, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return st, err
	}
	defer fc.Close()
	s, err := fc.DoAction(ctx, &aflight.Action{Type: "cluster-status"})
	if err != nil {
		return st, err
	}
	r, err := s.Recv()
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(r.GetBody(), &st)
}

// waitWorkers waits until the coordinator sees exactly n live workers and
// returns how long that took.
func (c *cluster) waitWorkers(n int) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := c.status(ctx)
		cancel()
		if err == nil && len(st.Workers) == n {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("coordinator did not see %d live workers within 3 minutes", n)
	return 0
}

func (c *cluster) location() string { return "grpc://" + c.coord.flight }
