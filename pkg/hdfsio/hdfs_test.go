package hdfsio_test

// Integration tests against a real HDFS (MiniDFSCluster in one JVM, started
// once for the package by TestMain). IMAGEFLIGHT_SKIP_HDFS=1 skips them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
)

var cluster *hdfstest.Cluster

func TestMain(m *testing.M) {
	os.Exit(hdfstest.Main(m, hdfstest.Options{DataNodes: 2, Replication: 2}, &cluster))
}

// testConfig is a config for the test cluster with short timeouts.
func testConfig(c *hdfstest.Cluster) hdfsio.HDFSConfig {
	cfg := hdfsio.DefaultHDFSConfig()
	cfg.Conf = hdfsio.HadoopConf{}
	cfg.NameNodes = []string{c.NameNode()}
	cfg.DialTimeout = 2 * time.Second
	cfg.RPCTimeout = 5 * time.Second
	cfg.Connections = 4
	return cfg
}

func newFS(t *testing.T, cfg hdfsio.HDFSConfig) *hdfsio.HDFS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := hdfsio.NewHDFS(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// corpus is written once (lazily) for the tests that read it.
var (
	corpusOnce sync.Once
	corpusErr  error
	corpus     = map[string][]byte{
		"/corpus/a.txt":                 []byte("hello hdfs\n"),
		"/corpus/b.bin":                 bytes.Repeat([]byte{0, 1, 2, 3, 254, 255}, 50000),
		"/corpus/empty.dat":             {},
		"/corpus/sub/c.txt":             []byte("c"),
		"/corpus/sub/deeper/d.txt":      []byte("deep"),
		"/corpus/sub/deeper/e.txt":      []byte("deeper still"),
		"/corpus/cls=kittens/x.jpg":     []byte("not really a jpeg"),
		"/corpus/.hidden":               []byte("hidden files are listed by hdfsio; the planner skips them"),
		"/corpus/with space/ü name.txt": []byte("unicode and spaces"),
	}
	corpusDirs = []string{"/corpus/emptydir"}
)

func writeCorpus(t *testing.T, h *hdfsio.HDFS) {
	t.Helper()
	corpusOnce.Do(func() {
		c, err := h.Client(context.Background())
		if err != nil {
			corpusErr = err
			return
		}
		for _, d := range corpusDirs {
			if err := c.MkdirAll(d, 0o755); err != nil {
				corpusErr = err
				return
			}
		}
		for p, data := range corpus {
			if err := c.MkdirAll(path.Dir(p), 0o755); err != nil {
				corpusErr = err
				return
			}
			w, err := c.Create(p)
			if err != nil {
				corpusErr = fmt.Errorf("create %s: %w", p, err)
				return
			}
			// (A zero-length Write would allocate an empty block that the
			// NameNode then waits on forever: skip it.)
			if len(data) == 0 {
			} else if _, err := w.Write(data); err != nil {
				corpusErr = fmt.Errorf("write %s: %w", p, err)
				return
			}
			if err := hdfstest.CloseWriter(w); err != nil {
				corpusErr = fmt.Errorf("close %s: %w", p, err)
				return
			}
		}
	})
	if corpusErr != nil {
		t.Fatalf("writing corpus: %v", corpusErr)
	}
}

func TestStatReadDirOpenRoundTrip(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	writeCorpus(t, h)
	ctx := context.Background()

	for p, want := range corpus {
		fi, err := h.Stat(ctx, p)
		if err != nil {
			t.Fatalf("Stat(%s): %v", p, err)
		}
		if fi.IsDir() || fi.Size() != int64(len(want)) || fi.Name() != path.Base(p) {
			t.Errorf("Stat(%s) = dir %v size %d name %q, want file of %d named %q", p, fi.IsDir(), fi.Size(), fi.Name(), len(want), path.Base(p))
		}
		if fi.ModTime().IsZero() || time.Since(fi.ModTime()) > time.Hour {
			t.Errorf("Stat(%s).ModTime = %v", p, fi.ModTime())
		}
		r, err := h.Open(ctx, p)
		if err != nil {
			t.Fatalf("Open(%s): %v", p, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes, want %d (equal: false)", p, len(got), len(want))
		}
	}

	fi, err := h.Stat(ctx, "/corpus/sub")
	if err != nil || !fi.IsDir() {
		t.Fatalf("Stat(dir) = %v, %v", fi, err)
	}
	ents, err := h.ReadDir(ctx, "/corpus")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	want := []string{".hidden", "a.txt", "b.bin", "cls=kittens/", "empty.dat", "emptydir/", "sub/", "with space/"}
	if !slices.Equal(names, want) {
		t.Errorf("ReadDir(/corpus) = %q\nwant %q", names, want)
	}
	if ents, err := h.ReadDir(ctx, "/corpus/emptydir"); err != nil || len(ents) != 0 {
		t.Errorf("ReadDir(empty) = %v, %v", ents, err)
	}
	if _, err := h.ReadDir(ctx, "/corpus/a.txt"); err == nil {
		t.Error("ReadDir(file) succeeded")
	}
	if _, err := h.Open(ctx, "/corpus/sub"); err == nil {
		t.Error("Open(dir) succeeded")
	}

	// Origins as Spark writes them.
	if got, want := h.URI("/corpus/a.txt"), "hdfs://"+c.NameNode()+"/corpus/a.txt"; got != want {
		t.Errorf("URI = %q, want %q", got, want)
	}
	if got, want := h.URI("/corpus/with space/ü name.txt"), "hdfs://"+c.NameNode()+"/corpus/with space/ü name.txt"; got != want {
		t.Errorf("URI = %q, want %q", got, want)
	}
}

func TestNotFound(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	writeCorpus(t, h)
	ctx := context.Background()
	const missing = "/corpus/no/such/file.jpg"

	_, err := h.Stat(ctx, missing)
	checkNotExist(t, "Stat", err, c, missing)
	_, err = h.Open(ctx, missing)
	checkNotExist(t, "Open", err, c, missing)
	_, err = h.ReadDir(ctx, missing)
	checkNotExist(t, "ReadDir", err, c, missing)
}

func checkNotExist(t *testing.T, op string, err error, c *hdfstest.Cluster, p string) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s(%s) = %v, want fs.ErrNotExist", op, p, err)
		return
	}
	var he *hdfsio.Error
	if !errors.As(err, &he) {
		t.Errorf("%s: %T is not *hdfsio.Error", op, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, p) || !strings.Contains(msg, c.NameNode()) {
		t.Errorf("%s error %q should name the path and the namenode %s", op, msg, c.NameNode())
	}
}

// walk lists root recursively with at most par directories in flight; it
// is the shape of the planner's listing, over the FileSystem interface.
func walk(ctx context.Context, fsys hdfsio.FileSystem, root string, par int) ([]string, int, error) {
	var (
		mu    sync.Mutex
		files []string
		dirs  int
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, par)
	)
	var visit func(dir string)
	visit = func(dir string) {
		defer wg.Done()
		sem <- struct{}{}
		ents, err := fsys.ReadDir(ctx, dir)
		<-sem
		mu.Lock()
		dirs++
		if err != nil && first == nil {
			first = err
		}
		mu.Unlock()
		var local []string
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				wg.Add(1)
				go visit(p)
			} else {
				local = append(local, p)
			}
		}
		mu.Lock()
		files = append(files, local...)
		mu.Unlock()
	}
	wg.Add(1)
	visit(root)
	wg.Wait()
	sort.Strings(files)
	return files, dirs, first
}

func TestRecursiveListing(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	writeCorpus(t, h)
	got, dirs, err := walk(context.Background(), h, "/corpus", 4)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for p := range corpus {
		want = append(want, p)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("walk = %q\nwant %q", got, want)
	}
	if dirs != 6 { // corpus, cls=kittens, emptydir, sub, sub/deeper, with space
		t.Errorf("visited %d directories, want 6", dirs)
	}
}

func TestReadDirPages(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	ctx := context.Background()
	const n = 2345 // > 2 NameNode pages (dfs.ls.limit = 1000)
	cl, err := h.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MkdirAll("/paged", 0o755); err != nil {
		t.Fatal(err)
	}
	want := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		want[i] = fmt.Sprintf("f%05d", i)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := h.Client(ctx) // spread over the connections
			if err == nil {
				err = c.CreateEmptyFile("/paged/" + name)
			}
			if err != nil {
				errs <- err
			}
		}(want[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var got []string
	pages := 0
	err = h.ReadDirPages(ctx, "/paged", 500, func(p []fs.FileInfo) error {
		pages++
		if len(p) > 500 {
			t.Errorf("page of %d > 500", len(p))
		}
		for _, fi := range p {
			got = append(got, fi.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || pages != 5 {
		t.Errorf("ReadDirPages: %d names in %d pages, want %d in 5 (equal %v)", len(got), pages, n, slices.Equal(got, want))
	}
	all, err := h.ReadDir(ctx, "/paged")
	if err != nil || len(all) != n {
		t.Fatalf("ReadDir = %d entries, %v", len(all), err)
	}
	stop := errors.New("stop")
	if err := h.ReadDirPages(ctx, "/paged", 100, func([]fs.FileInfo) error { return stop }); err != stop {
		t.Errorf("callback error = %v, want it returned as is", err)
	}
}

func TestBlockHosts(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	writeCorpus(t, h)
	ctx := context.Background()

	hosts, err := hdfsio.BlockHosts(ctx, c.HTTPAddr(), "/corpus/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hosts, []string{"127.0.0.1"}) {
		t.Errorf("BlockHosts = %q, want [127.0.0.1]", hosts)
	}
	w := &hdfsio.WebHDFS{Addrs: []string{c.HTTPAddr()}}
	locs, err := w.BlockLocations(ctx, "/corpus/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 1 || locs[0].Length != int64(len(corpus["/corpus/b.bin"])) || len(locs[0].Names) != 2 {
		t.Errorf("BlockLocations = %+v, want one block on 2 DataNodes", locs)
	}
	dns := map[string]bool{}
	for _, d := range c.DataNodes() {
		dns[d.Xfer] = true
	}
	for _, n := range locs[0].Names {
		if !dns[n] {
			t.Errorf("replica on %s, not one of the DataNodes %v", n, c.DataNodes())
		}
	}
	// An empty file has no blocks and so no hosts; that is not an error.
	if hosts, err := hdfsio.BlockHosts(ctx, c.HTTPAddr(), "/corpus/empty.dat"); err != nil || len(hosts) != 0 {
		t.Errorf("BlockHosts(empty) = %q, %v", hosts, err)
	}
	if hosts, err := hdfsio.BlockHosts(ctx, c.HTTPAddr(), "/corpus/with space/ü name.txt"); err != nil || len(hosts) != 1 {
		t.Errorf("BlockHosts(unicode name) = %q, %v", hosts, err)
	}
	if _, err := hdfsio.BlockHosts(ctx, c.HTTPAddr(), "/corpus/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("BlockHosts(missing) = %v, want fs.ErrNotExist", err)
	}
	// Nothing listening: an error (the planner logs it and plans without locality).
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if _, err := hdfsio.BlockHosts(ctx, dead, "/corpus/b.bin"); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("BlockHosts(dead addr) = %v, want an error naming %s", err, dead)
	}
}

func TestNameserviceResolution(t *testing.T) {
	c := hdfstest.Use(t, cluster)
	writeCorpus(t, newFS(t, testConfig(c)))
	// An HA nameservice whose first NameNode is down: the client fails over
	// to the second, and origins keep the logical name.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	os.WriteFile(dir+"/core-site.xml", []byte(`<configuration>
<property><name>fs.defaultFS</name><value>hdfs://mycluster</value></property>
</configuration>`), 0o644)
	os.WriteFile(dir+"/hdfs-site.xml", []byte(`<configuration>
<property><name>dfs.nameservices</name><value>mycluster</value></property>
<property><name>dfs.ha.namenodes.mycluster</name><value>nn1, nn2</value></property>
<property><name>dfs.namenode.rpc-address.mycluster.nn1</name><value>`+dead+`</value></property>
<property><name>dfs.namenode.rpc-address.mycluster.nn2</name><value>`+c.NameNode()+`</value></property>
<property><name>dfs.namenode.http-address.mycluster.nn1</name><value>`+dead+`</value></property>
<property><name>dfs.namenode.http-address.mycluster.nn2</name><value>`+c.HTTPAddr()+`</value></property>
</configuration>`), 0o644)
	t.Setenv("HADOOP_CONF_DIR", dir)
	conf, used, err := hdfsio.LoadHadoopConfFromEnv()
	if err != nil || used != dir {
		t.Fatalf("LoadHadoopConfFromEnv = %v, %q", err, used)
	}
	cfg := hdfsio.DefaultHDFSConfig()
	cfg.DialTimeout, cfg.RPCTimeout = 2*time.Second, 5*time.Second
	ctx := context.Background()
	for _, uri := range []string{"hdfs://mycluster/corpus/a.txt", "hdfs:///corpus/a.txt"} {
		auth, p, err := hdfsio.ParseHDFSURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		h, err := hdfsio.DialHDFS(ctx, auth, cfg)
		if err != nil {
			t.Fatalf("DialHDFS(%q): %v", auth, err)
		}
		defer h.Close()
		if got := h.NameNodes(); !slices.Equal(got, []string{dead, c.NameNode()}) {
			t.Errorf("NameNodes = %q", got)
		}
		fi, err := h.Stat(ctx, p)
		if err != nil || fi.Size() != int64(len(corpus[p])) {
			t.Errorf("Stat via nameservice: %v, %v", fi, err)
		}
		if got := h.URI(p); got != "hdfs://mycluster/corpus/a.txt" {
			t.Errorf("URI = %q, want hdfs://mycluster/corpus/a.txt", got)
		}
	}
	w := &hdfsio.WebHDFS{Addrs: hdfsio.ResolveNameNodeHTTP(conf, "mycluster")}
	if hosts, err := w.BlockHosts(ctx, "/corpus/a.txt"); err != nil || len(hosts) != 1 {
		t.Errorf("BlockHosts over HA http addresses = %q, %v", hosts, err)
	}
}

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
	locs, err := (&hdfsio.WebHDFS{Addrs: []string{c.HTTPAddr()}}).BlockLocations(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range locs {
		if len(b.Names) != 2 {
			t.Fatalf("block at %d has %d replicas, want 2", b.Offset, len(b.Names))
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
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
	if el < time.Second || el > 5*time.Second {
		t.Errorf("NewHDFS took %v, want about RPCTimeout (1.5s)", el)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = hdfsio.NewHDFS(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > time.Second {
		t.Errorf("NewHDFS with a 200ms context = %v after %v, want DeadlineExceeded at ~200ms", err, time.Since(t0))
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
	if time.Since(t0) > 3*time.Second {
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
	bound := cfg.DialTimeout + cfg.RPCTimeout + time.Second
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
