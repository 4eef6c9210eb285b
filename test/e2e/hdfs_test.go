package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/hdfstest"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/server/servertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHDFS runs the cluster against a real HDFS (MiniDFSCluster: one
// NameNode, two DataNodes, replication 2) — one JVM for all subtests.
func TestHDFS(t *testing.T) {
	hc := hdfstest.Start(t, hdfstest.Options{DataNodes: 2, Replication: 2})
	local := t.TempDir()
	entries, err := corpus.Write(local, corpus.Options{Scale: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.PutDir(local, "/images"); err != nil {
		t.Fatal(err)
	}
	models := t.TempDir()
	modelFile := filepath.Join(models, "convnet.onnx")
	if err := os.WriteFile(modelFile, readFile(t, "../../pkg/model/testdata/convnet.onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := hc.PutDir(models, "/models"); err != nil {
		t.Fatal(err)
	}
	root := hc.URI("/images")
	c := &cluster{t: t, roots: []string{root, hc.URI("/models")}, secret: filepath.Join(t.TempDir(), "secret")}
	hdfsArgs := []string{"--hdfs-dial-timeout", "10s", "--hdfs-rpc-timeout", "30s", "--hdfs-namenode-http", hc.HTTPAddr(),
		"--onnxruntime-library", ortLibrary(t)}
	consoleAddr := servertest.FreeAddr(t, "127.0.0.1")
	c.coord = c.start("coord", append([]string{"127.0.0.1", "--http-listen", consoleAddr}, hdfsArgs...)...)
	// w1 says it runs on the DataNodes' host: block locality should favour it.
	w1 := c.addWorker("w1", append([]string{"--host", "127.0.0.1"}, hdfsArgs...)...)
	c.addWorker("w2", hdfsArgs...)
	c.addWorker("w3", hdfsArgs...)
	c.waitWorkers(3)

	t.Run("rows and origins match the corpus", func(t *testing.T) {
		info, rows, _ := readAll(t, c.location(), map[string]any{"path": root, "recursive": true, "numPartitions": 6})
		if len(info.GetEndpoint()) != 6 {
			t.Errorf("%d endpoints, want 6", len(info.GetEndpoint()))
		}
		want := map[string]corpus.Entry{}
		for _, e := range entries {
			want[root+"/"+e.Rel] = e
		}
		checkRows(t, rows, want)

		// Locality: the data-local worker leads or is first alternate on
		// every endpoint, and leads on its full share of them.
		lead := 0
		for i, ep := range info.GetEndpoint() {
			locs := ep.GetLocation()
			switch "grpc://" + w1.flight {
			case locs[0].GetUri():
				lead++
			case locs[1].GetUri():
			default:
				t.Errorf("endpoint %d: data-local worker not among its first two locations", i)
			}
		}
		if lead != 2 {
			t.Errorf("data-local worker leads %d of 6 endpoints, want its share of 2", lead)
		}
	})

	t.Run("non-recursive, sampling, missing path", func(t *testing.T) {
		_, rows, _ := readAll(t, c.location(), map[string]any{"path": root + "/cls=cats", "numPartitions": 2})
		for _, g := range rows {
			if !strings.HasPrefix(g.row.Origin, root+"/cls=cats/split=") {
				t.Errorf("row %s outside the requested folder", g.row.Origin)
			}
		}
		if len(rows) == 0 {
			t.Error("partition folders under a non-recursive path were not read")
		}
		origins := func(seed int) []string {
			_, rows, _ := readAll(t, c.location(), map[string]any{"path": root, "recursive": true, "sampleRatio": 0.5, "seed": seed})
			var o []string
			for _, g := range rows {
				o = append(o, g.row.Origin)
			}
			return o
		}
		a, b := origins(7), origins(7)
		if !reflect.DeepEqual(a, b) {
			t.Error("the same seed sampled different files")
		}
		if n := float64(len(a)); math.Abs(n-float64(len(entries))/2) > 0.25*float64(len(entries)) {
			t.Errorf("sampled %v of %d files at ratio 0.5", n, len(entries))
		}
		cl := client.New(client.DefaultConfig(c.location()))
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := cl.Plan(ctx, []byte(`{"path": "`+root+`/nope"}`))
		if st, _ := status.FromError(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), root+"/nope") {
			t.Errorf("missing path: %v, want NotFound naming it", err)
		}
	})

	consoleOnHDFS(t, consoleAddr, c.location(), root, entries)

	t.Run("pyarrow reads hdfs:// with exact pixels", func(t *testing.T) {
		py := venvPython(t)
		out, err := exec.Command(py, "pyarrow_read.py", c.location(), root).CombinedOutput()
		if err != nil {
			t.Fatalf("pyarrow: %v\n%s", err, out)
		}
		var got map[string]string // origin → sha256 of data
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("pyarrow output: %v\n%s", err, out)
		}
		checked := 0
		for _, e := range entries {
			if e.Data == nil {
				continue
			}
			if got[root+"/"+e.Rel] != sha(e.Data) {
				t.Errorf("%s: pixels via pyarrow differ from the encoded source", e.Rel)
			}
			checked++
		}
		if len(got) != len(entries) || checked == 0 {
			t.Errorf("pyarrow read %d rows, want %d (%d lossless checked)", len(got), len(entries), checked)
		}
	})

	t.Run("model served from HDFS equals onnxruntime in Python", func(t *testing.T) {
		out, err := exec.Command(venvPython(t), "model_read.py", c.location(), root, hc.URI("/models/convnet.onnx"), modelFile, "4").CombinedOutput()
		if err != nil {
			t.Fatalf("model_read.py: %v\n%s", err, out)
		}
		var got struct {
			Rows, Checked int
			MaxDiff       float64 `json:"max_diff"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("model_read.py output: %v\n%s", err, out)
		}
		if got.Rows != len(entries) || got.Checked == 0 || got.MaxDiff > 1e-5 {
			t.Errorf("model from HDFS: %+v, want %d rows, features within 1e-5 of onnxruntime", got, len(entries))
		}
		t.Logf("model from HDFS: %d rows, %d with features, max |diff| %g", got.Rows, got.Checked, got.MaxDiff)
	})

	t.Run("DataNode killed mid-read", func(t *testing.T) {
		cl := client.New(client.DefaultConfig(c.location()))
		defer cl.Close()
		info := plan(t, cl, root, 6)
		clean, _, _ := readSums(t, cl, info, nil)
		var once sync.Once
		got, _, _ := readSums(t, cl, plan(t, cl, root, 6), func(client.Batch) {
			once.Do(func() {
				if err := hc.StopDataNode(0); err != nil {
					t.Errorf("stop DataNode: %v", err)
				}
			})
		})
		if !reflect.DeepEqual(got, clean) {
			t.Errorf("rows with a DataNode stopped differ from the clean read (%d vs %d distinct)", len(got), len(clean))
		}
		if err := hc.RestartDataNode(0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NameNode down: clear error in bounded time", func(t *testing.T) {
		if err := hc.StopNameNode(); err != nil {
			t.Fatal(err)
		}
		defer hc.RestartNameNode()
		cl := client.New(client.DefaultConfig(c.location()))
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := cl.Plan(ctx, []byte(`{"path": "`+root+`", "recursive": true}`))
		took := time.Since(start)
		st, _ := status.FromError(err)
		if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), hc.NameNode()) {
			t.Errorf("got %v, want Unavailable naming the NameNode", err)
		}
		if took > 2*time.Minute { // liveness: answered, not hung until the context ends
			t.Errorf("error took %s, want it within the configured timeouts", took)
		}
		t.Logf("NameNode down reported in %s: %v", took.Round(time.Millisecond), st.Message())
	})
}

// ortLibrary is ONNX Runtime's library from the project virtualenv's
// onnxruntime wheel (test/python/setup.sh installs it).
func ortLibrary(t *testing.T) string {
	t.Helper()
	lib := model.TestLibrary()
	if lib == "" {
		t.Fatal("no libonnxruntime.so in ../../.venv (run test/python/setup.sh) nor IMAGEFLIGHT_ONNXRUNTIME_LIBRARY")
	}
	return lib
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// venvPython is the project virtualenv's python (test/python/setup.sh).
func venvPython(t *testing.T) string {
	t.Helper()
	py, _ := filepath.Abs("../../.venv/bin/python")
	if v := os.Getenv("IMAGEFLIGHT_PYTHON"); v != "" {
		py = v
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no project virtualenv at %s: run test/python/setup.sh (the README test command does)", py)
	}
	return py
}

func sha(b []byte) string {
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestKerberosHDFS runs a coordinator and workers with --kerberos-* flags
// against a Kerberos-secured HDFS (MiniDFSCluster with a KDC, block tokens,
// SASL data transfer protection): the coordinator and one worker log in
// from a keytab, the other worker from a kinit ticket cache. Rows must equal
// those read from the same files on the local disk (the reference TestHDFS
// also holds the insecure cluster to), under "authentication" and then
// "privacy" with AES. A coordinator whose principal the KDC does not know
// fails the plan with an error naming it.
func TestKerberosHDFS(t *testing.T) {
	start := time.Now()
	hc := hdfstest.Start(t, hdfstest.Options{DataNodes: 2, Replication: 2, Secure: "authentication"})
	k := hc.Kerberos()
	t.Logf("secure cluster up in %s (realm %s, KDC %s)", time.Since(start).Round(time.Millisecond), k.Realm, k.KDC)
	local := t.TempDir()
	entries, err := corpus.Write(local, corpus.Options{Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.PutDir(local, "/images"); err != nil {
		t.Fatal(err)
	}
	ccache, err := k.Kinit(t.TempDir(), k.UserPrincipal, k.UserKeytab)
	if err != nil {
		t.Fatal(err)
	}
	root := hc.URI("/images")
	common := []string{"--hadoop-conf-dir", hc.ConfDir(), "--krb5-conf", k.Krb5Conf,
		"--hdfs-dial-timeout", "10s", "--hdfs-rpc-timeout", "30s"}
	keytab := append([]string{"--kerberos-keytab", k.UserKeytab, "--kerberos-principal", k.UserPrincipal}, common...)
	c := &cluster{t: t, roots: []string{root, local}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", append([]string{"127.0.0.1"}, keytab...)...)
	c.addWorker("w1", keytab...)
	c.addWorker("w2", append([]string{"--kerberos-ccache", ccache}, common...)...)
	c.waitWorkers(2)

	want := map[string]corpus.Entry{}
	for _, e := range entries {
		want[root+"/"+e.Rel] = e
	}
	reference := func(t *testing.T) map[string]got {
		_, rows, _ := readAll(t, c.location(), map[string]any{"path": local, "recursive": true, "numPartitions": 4})
		m := map[string]got{}
		for _, g := range rows {
			m[strings.TrimPrefix(g.row.Origin, "file:"+local)] = g
		}
		return m
	}
	ref := reference(t)
	if len(ref) != len(entries) {
		t.Fatalf("local reference read %d rows, want %d", len(ref), len(entries))
	}
	check := func(t *testing.T) {
		start := time.Now()
		_, rows, _ := readAll(t, c.location(), map[string]any{"path": root, "recursive": true, "numPartitions": 4})
		checkRows(t, rows, want)
		for _, g := range rows {
			r, ok := ref[strings.TrimPrefix(g.row.Origin, root)]
			if !ok {
				t.Errorf("%s: no local counterpart", g.row.Origin)
				continue
			}
			a, b := g.row, r.row
			if a.Height != b.Height || a.Width != b.Width || a.NChannels != b.NChannels || a.Mode != b.Mode ||
				!bytes.Equal(a.Data, b.Data) || !reflect.DeepEqual(g.parts, r.parts) {
				t.Errorf("%s: row differs from the local read of the same file", g.row.Origin)
			}
		}
		t.Logf("%d rows through Kerberos in %s", len(rows), time.Since(start).Round(time.Millisecond))
	}
	t.Run("authentication", check)
	t.Run("privacy AES", func(t *testing.T) {
		if err := hc.SetDataTransferProtection("privacy", "AES/CTR/NoPadding"); err != nil {
			t.Fatal(err)
		}
		check(t)
	})

	t.Run("unknown principal refused naming it", func(t *testing.T) {
		bad := "mallory@" + k.Realm
		bc := &cluster{t: t, roots: []string{root}, secret: filepath.Join(t.TempDir(), "secret")}
		bc.coord = bc.start("coord-bad", append([]string{"127.0.0.1", "--kerberos-keytab", k.UserKeytab, "--kerberos-principal", bad}, common...)...)
		bc.addWorker("w-bad", append([]string{"--kerberos-keytab", k.UserKeytab, "--kerberos-principal", bad}, common...)...)
		bc.waitWorkers(1)
		cl := client.New(client.DefaultConfig(bc.location()))
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := cl.Plan(ctx, []byte(`{"path": "`+root+`", "recursive": true}`))
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), bad) || status.Code(err) != codes.PermissionDenied {
			t.Errorf("plan as %s: %v, want PermissionDenied naming the principal (not retryable)", bad, err)
		}
		if took > 2*time.Minute { // liveness: answered, not hung until the context ends
			t.Errorf("refusal took %s", took)
		}
		t.Logf("refused in %s: %v", took.Round(time.Millisecond), err)
	})
}
