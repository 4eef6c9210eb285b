package hdfsio_test

// Integration tests against a real HDFS (MiniDFSCluster in one JVM, started
// once for the package by TestMain). IMAGEFLIGHT_SKIP_HDFS=1 skips them.
// Here: the shared setup and reading and listing; block locations and
// nameservices in hdfs_topology_test.go, failures in hdfs_unavailable_test.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
)

var cluster *hdfstest.Cluster

func TestMain(m *testing.M) {
	code := hdfstest.Main(m, hdfstest.Options{DataNodes: 2, Replication: 2}, &cluster)
	closeSecure() // started by the first Kerberos test, if any ran
	os.Exit(code)
}

// testConfig is a config for the test cluster. Its timeouts are far
// above a healthy call even on a loaded machine (a JVM at load 20 answers
// in seconds, not milliseconds); tests of the timeouts set their own.
func testConfig(c *hdfstest.Cluster) hdfsio.HDFSConfig {
	cfg := hdfsio.DefaultHDFSConfig()
	cfg.Conf = hdfsio.HadoopConf{}
	cfg.NameNodes = []string{c.NameNode()}
	cfg.DialTimeout = 10 * time.Second
	cfg.RPCTimeout = 30 * time.Second
	cfg.Connections = 4
	return cfg
}

func newFS(t *testing.T, cfg hdfsio.HDFSConfig) *hdfsio.HDFS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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

// corpusFS is how the tests that read the corpus start: the shared cluster
// (skipping without one) and a filesystem on it with the corpus written.
func corpusFS(t *testing.T) (*hdfstest.Cluster, *hdfsio.HDFS) {
	t.Helper()
	c := hdfstest.Use(t, cluster)
	h := newFS(t, testConfig(c))
	writeCorpus(t, h)
	return c, h
}

func TestStatReadDirOpenRoundTrip(t *testing.T) {
	c, h := corpusFS(t)
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
	c, h := corpusFS(t)
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
	_, h := corpusFS(t)
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
