package hdfsio_test

// Failures: DataNodes and NameNodes that stop, go silent or refuse. These
// stop and restart parts of the shared cluster, so they run after the other
// tests of the package: go test runs tests in file-name order, and this file
// sorts after hdfs_test.go and hdfs_topology_test.go.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
)

// TestDataNodeStoppedMidRead: with replication 2, stopping a DataNode while
// a file is being read must not fail the read.
func TestDataNodeStoppedMidRead(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	victim := c.DataNodes()[0].Xfer
	var (
		stopped      atomic.Bool
		openToVictim atomic.Int64
		dialsAfter   atomic.Int64
	)
	cfg := testConfig(c)
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == victim && stopped.Load() {
			dialsAfter.Add(1)
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil && addr == victim {
			openToVictim.Add(1)
			return &countedConn{Conn: conn, open: &openToVictim}, nil
		}
		return conn, err
	}
	h := newFS(t, cfg)
	ctx := context.Background()

	// 4 MiB in 16 blocks of 256 KiB, each on both DataNodes.
	data := make([]byte, 4<<20)
	rand.New(rand.NewSource(1)).Read(data)
	cl, err := h.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const p = "/failover/big.bin"
	cl.MkdirAll("/failover", 0o755)
	w, err := cl.CreateFile(p, 2, 256<<10, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := hdfstest.CloseWriter(w); err != nil {
		t.Fatal(err)
	}
	// A loaded machine may drop a DataNode from the write pipeline; the
	// NameNode then re-replicates. Wait for two replicas of every block.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		locs, err := (&hdfsio.WebHDFS{Addrs: []string{c.HTTPAddr()}}).BlockLocations(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		short := -1
		for i, b := range locs {
			if len(b.Names) != 2 {
				short = i
			}
		}
		if short < 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("block at %d has %d replicas after 3 minutes, want 2", locs[short].Offset, len(locs[short].Names))
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r, err := h.Open(rctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 32<<10)
	for len(got) < 300<<10 {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatal(err)
		}
	}
	wasOpen := openToVictim.Load() > 0
	stopped.Store(true)
	if err := c.StopDataNode(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.RestartDataNode(0); err != nil {
			t.Errorf("restart DataNode 0: %v", err)
		}
	})
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after stopping a DataNode failed at byte %d: %v", len(got), err)
	}
	got = append(got, rest...)
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes after failover, want %d; equal=false", len(got), len(data))
	}
	// The stopped DataNode must really have been on the read path.
	if !wasOpen && dialsAfter.Load() == 0 {
		t.Errorf("the read never touched the stopped DataNode %s: failover not exercised", victim)
	}
	t.Logf("stream to victim open at stop: %v; dials to it after stop: %d", wasOpen, dialsAfter.Load())
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// TestSilentNameNode: a NameNode that accepts connections but never answers
// (hung JVM, black-holed network) gives an error after RPCTimeout, and a
// shorter context deadline wins.
func TestSilentNameNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, conn) // read everything, answer nothing
		}
	}()
	cfg := hdfsio.HDFSConfig{NameNodes: []string{ln.Addr().String()}, User: "test",
		DialTimeout: time.Second, RPCTimeout: 1500 * time.Millisecond, Connections: 2}

	// NewHDFS asks the NameNode for its server defaults, so a silent one
	// is caught at connect time.
	t0 := time.Now()
	_, err = hdfsio.NewHDFS(context.Background(), cfg)
	el := time.Since(t0)
	if err == nil || !errors.Is(err, hdfsio.ErrUnavailable) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("NewHDFS on a silent NameNode = %v, want ErrUnavailable + deadline exceeded", err)
	}
	if el < time.Second || el > time.Minute { // liveness: no hang past the RPC timeout
		t.Errorf("NewHDFS took %v, want RPCTimeout (1.5s) plus scheduling delays", el)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = hdfsio.NewHDFS(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > time.Minute {
		t.Errorf("NewHDFS with a 200ms context = %v after %v, want DeadlineExceeded (the context, not the 1.5s RPC timeout)", err, time.Since(t0))
	}
}

func TestRefusedNameNode(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	t0 := time.Now()
	_, err := hdfsio.NewHDFS(context.Background(), hdfsio.HDFSConfig{NameNodes: []string{addr}, User: "test", DialTimeout: time.Second})
	if err == nil || !errors.Is(err, hdfsio.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("NewHDFS(nothing listening) = %v, want ErrUnavailable naming %s", err, addr)
	}
	if time.Since(t0) > time.Minute { // liveness: a refused dial must not hang
		t.Errorf("took %v", time.Since(t0))
	}
}

// TestNameNodeStopped runs last among the cluster tests (it restarts the
// NameNode when done): a stopped NameNode gives a clear error quickly.
func TestNameNodeStopped(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	cfg := testConfig(c)
	cfg.RPCTimeout = 3 * time.Second
	cfg.DialTimeout = 2 * time.Second
	h := newFS(t, cfg)
	writeCorpus(t, h)
	ctx := context.Background()
	if _, err := h.Stat(ctx, "/corpus/a.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopNameNode(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.RestartNameNode(); err != nil {
			t.Errorf("restart NameNode: %v", err)
		}
	})
	bound := cfg.DialTimeout + cfg.RPCTimeout + time.Minute      // the timeouts plus scheduling delays on a loaded machine
	for _, p := range []string{"/corpus/a.txt", "/corpus/sub"} { // first call sees the broken connection, the second a refused dial
		t0 := time.Now()
		_, err := h.Stat(ctx, p)
		el := time.Since(t0)
		if err == nil {
			t.Fatalf("Stat(%s) with the NameNode stopped succeeded", p)
		}
		if !errors.Is(err, hdfsio.ErrUnavailable) || !strings.Contains(err.Error(), c.NameNode()) {
			t.Errorf("Stat(%s) = %v, want ErrUnavailable naming %s", p, err, c.NameNode())
		}
		if el > bound {
			t.Errorf("Stat(%s) took %v, want < %v", p, el, bound)
		}
		t.Logf("Stat(%s) failed after %v: %v", p, el, err)
	}
	// A new client cannot connect either, and says so in bounded time.
	t0 := time.Now()
	_, err := hdfsio.NewHDFS(ctx, cfg)
	if err == nil || time.Since(t0) > bound {
		t.Errorf("NewHDFS with the NameNode down = %v after %v", err, time.Since(t0))
	}
}
