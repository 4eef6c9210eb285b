//go:build sparkjvm

// The JVM connector (clients/spark) in real Spark from Maven Central, one JVM per Spark
// line, against a real coordinator and workers. Built only with -tags sparkjvm: the
// "spark connector (JVM)" stage of test/run.sh runs it after clients/spark/build.sh.

package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/server/servertest"
)

// sparkJavaOptions are the --add-opens Spark's launcher passes on Java 17 (Spark's
// JavaModuleOptions); `java -cp` needs them by hand.
var sparkJavaOptions = strings.Fields(`-XX:+IgnoreUnrecognizedVMOptions
 --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED
 --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
 --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
 --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
 --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
 --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED
 --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED
 -Djdk.reflect.useDirectMethodHandle=false -Xmx2g`)

// sparkLine is one connector jar and the Spark it is checked in.
type sparkLine struct {
	name        string // 3.5_2.12
	sparkPrefix string // the Spark version it must report
	classMajor  uint16 // class file major version of the connector's classes
}

var sparkLines = []sparkLine{
	{"3.5_2.12", "3.5.", 52}, // Java 8 bytecode: Spark 3.5 runs on Java 8/11/17
	{"3.5_2.13", "3.5.", 52},
	{"4_2.13", "4.", 61}, // Spark 4 needs Java 17
}

// checkResult is what clients/spark/check/ConnectorCheck.java prints.
type checkResult struct {
	Spark, Scala                        string
	SchemaImage, SchemaOurs             string
	RowsImage, RowsOurs                 []string
	Count, SelectCls, GroupBy, Full     measured
	HeightWidth                         measured
	CountImage                          int
	GroupByImage                        []string
	ExplainCount, ExplainGroupBy        string
	CountDropInvalid                    int
	CountDropInvalidImage               int
	ExplainDropInvalidCount             string
	ExplainWhere                        string
	WhereCount, WhereCountImage         int
	ExplainNotPushed                    string
	NotPushedCount, NotPushedCountImage int
	ExplainLimit                        string
	LimitCount, LimitRows               int
	SampledCount, SampledRows           int
	LimitOptionCount                    int
	Partitions                          []struct {
		Partition    string
		Preferred    []string
		RddPreferred [][]string
	}
	PartitionRows        int
	ReadImagesCount      int
	FailoverClean        []string
	FailoverKilled       []string
	SynapseResized       int
	SecureCount          int
	SecureBytes          int64
	SecureBadPassword    string
	FailoverCleanMetrics map[string]int64
	FailoverMetrics      map[string]int64
	Stalled              []string
	StalledMetrics       map[string]int64
	ModelTensors         []string
	ModelSchema          string
	ModelFeatures        measured
	ModelExplainWhere    string
	ModelWhereCount      int
}

// measured is a query's result with the workers' metric deltas around it: rows put into
// batches with pixels (imageflight_batch_rows_total) and images read.
type measured struct {
	Result    json.RawMessage
	PixelRows int64
	Images    int64
}

func TestSparkConnector(t *testing.T) {
	build := exec.Command("../../clients/spark/build.sh")
	build.Stderr = os.Stderr
	start := time.Now()
	out, err := build.Output()
	if err != nil {
		t.Fatalf("clients/spark/build.sh: %v", err)
	}
	jars := strings.Fields(string(out))
	t.Logf("connector jars built in %s: %v", time.Since(start).Round(time.Second), jars)

	root := t.TempDir()
	dir, failDir := filepath.Join(root, "corpus"), filepath.Join(root, "failover")
	for _, d := range []string{dir, failDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := corpus.Write(failDir, corpus.Options{Scale: 6}); err != nil {
		t.Fatal(err)
	}
	// The README examples run in a folder holding data/images (inside the served root).
	readmeDir := filepath.Join(root, "readme")
	if err := os.MkdirAll(filepath.Join(readmeDir, "data", "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := corpus.Write(filepath.Join(readmeDir, "data", "images"), corpus.Options{Scale: 1}); err != nil {
		t.Fatal(err)
	}

	// pkg/model's test convnet in the served root, for the read with a model.
	onnx := readFile(t, "../../pkg/model/testdata/convnet.onnx")
	modelFile := filepath.Join(root, "models", "convnet.onnx")
	if err := os.MkdirAll(filepath.Dir(modelFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modelFile, onnx, 0o644); err != nil {
		t.Fatal(err)
	}

	// Small batches and one decoder per worker: the failover read's streams are long
	// enough for a SIGKILL to land mid-stream.
	c := &cluster{t: t, roots: []string{root}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1")
	var metrics []string
	for i := 0; i < 3; i++ {
		host := fmt.Sprintf("127.0.0.%d", len(c.workers)+2)
		m := servertest.FreeAddr(t, host)
		metrics = append(metrics, "http://"+m+"/metrics")
		c.addWorker(fmt.Sprintf("w%d", i+1), "--metrics-listen", m, "--decoders", "1", "--batch-bytes", "200000",
			"--onnxruntime-library", ortLibrary(t))
	}
	c.waitWorkers(3)
	// TLS and basic auth (the connector's tlsCAFile, username, password options).
	pk := servertest.NewPKI(t)
	secure, _ := secureCluster(t, root, pk)
	secureArgs := []string{"grpc+tls://" + secure.coord.flight, pk.CA, "alice", "correct horse"}

	for i, line := range sparkLines {
		t.Run(line.name, func(t *testing.T) {
			for _, w := range c.workers { // a worker killed by the previous line's failover check
				if w.cmd.ProcessState != nil {
					c.run(w)
				}
			}
			c.waitWorkers(3)
			checkClassVersion(t, jars[i], line.classMajor)
			runWireVectors(t, line, jars[i])
			res := runCheck(t, c, line, jars[i], dir, failDir, modelFile, metrics, secureArgs)
			if !strings.HasPrefix(res.Spark, line.sparkPrefix) || !strings.HasPrefix(res.Scala, line.name[strings.Index(line.name, "_")+1:]) {
				t.Errorf("ran Spark %s / Scala %s, want %s", res.Spark, res.Scala, line.name)
			}
			assertRows(t, res, entries)
			assertPruning(t, res, entries)
			assertPushdown(t, res, entries)
			assertLocality(t, res, c)
			assertFailover(t, res)
			assertStall(t, res)
			assertSecure(t, res, entries)
			assertSynapse(t, res, line, entries)
			assertModel(t, res, onnx)
			runReadmeJava(t, c, line, jars[i], readmeDir, entries)
			if line.name == "3.5_2.12" {
				runReadmeScala(t, c, jars[i], readmeDir, entries)
			}
			if line.name == "4_2.13" {
				runReadmePython(t, c, jars[i], readmeDir, entries)
			}
		})
	}
}

// checkClassVersion asserts the jar's own classes target the line's Java.
func checkClassVersion(t *testing.T, jar string, want uint16) {
	t.Helper()
	z, err := zip.OpenReader(jar)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, f := range z.File {
		if f.Name != "io/imageflight/spark/ImageFlightSource.class" && f.Name != "io/imageflight/spark/shaded/io/grpc/ManagedChannel.class" {
			continue
		}
		r, _ := f.Open()
		head := make([]byte, 8)
		_, err := io.ReadFull(r, head)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The connector's own classes target the line's Java; shaded ones may be older.
		got := binary.BigEndian.Uint16(head[6:])
		if shaded := strings.HasPrefix(f.Name, "io/imageflight/spark/shaded/"); got > want || (!shaded && got != want) {
			t.Errorf("%s in %s: class file version %d, want %d", f.Name, filepath.Base(jar), got, want)
		}
	}
	info, _ := os.Stat(jar)
	t.Logf("%s: %.1f MB", filepath.Base(jar), float64(info.Size())/1e6)
}

// runCheck compiles ConnectorCheck against the line's Spark and runs it; when it
// reports its stall read under way, a worker that is streaming is SIGSTOPped (and SIGCONTed
// after that read); when it reports its failover read under way, one is SIGKILLed.
func runCheck(t *testing.T, c *cluster, line sparkLine, jar, dir, failDir, modelFile string, metrics, secureArgs []string) checkResult {
	t.Helper()
	classes := t.TempDir()
	cp := jar + ":" + sparkClasspath(t, line)
	javac := exec.Command("javac", "-nowarn", "-d", classes, "-cp", cp, "../../clients/spark/check/ConnectorCheck.java")
	if out, err := javac.CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	marker := filepath.Join(t.TempDir(), "kill")
	args := append(append([]string{}, sparkJavaOptions...), "-cp", classes+":"+cp, "ConnectorCheck",
		c.location(), dir, strings.Join(metrics, ","), failDir, marker)
	args = append(args, secureArgs...)
	java := exec.Command("java", args...)
	java.Env = append(os.Environ(), "CHECK_MODEL="+modelFile)
	var stderr bytes.Buffer
	java.Stderr = &stderr
	stdout, err := java.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := java.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	killed, stopped := make(chan string, 1), make(chan string, 1)
	go func() { stopped <- stopStreamingWorker(c, metrics, marker+"-stall", exited) }()
	go func() { killed <- signalStreamingWorker(c, metrics, marker, syscall.SIGKILL, exited) }()
	var result []byte
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("CHECK-RESULT ")); ok {
			result = bytes.Clone(rest)
		}
	}
	err = java.Wait()
	close(exited)
	t.Logf("Spark %s check ran in %s; %s; %s", line.name, time.Since(start).Round(time.Second), <-stopped, <-killed)
	if err != nil || result == nil {
		t.Fatalf("ConnectorCheck: %v\n%s", err, tail(stderr.String(), 8000))
	}
	var res checkResult
	if err := json.Unmarshal(result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var sigName = map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSTOP: "SIGSTOP"}

// signalStreamingWorker waits for the check's marker (or its exit), sends sig to a worker
// with a DoGet stream in flight, and tells the check to go on.
func signalStreamingWorker(c *cluster, metrics []string, marker string, sig syscall.Signal, exited <-chan struct{}) string {
	_, msg := signalStreaming(c, metrics, marker, sig, exited)
	return msg
}

func signalStreaming(c *cluster, metrics []string, marker string, sig syscall.Signal, exited <-chan struct{}) (*proc, string) {
	defer os.WriteFile(marker+".killed", nil, 0o644)
	if !waitFile(marker+".reading", exited) {
		return nil, "the read for " + sigName[sig] + " never started"
	}
	for i, m := range metrics {
		if scrape(m, "imageflight_doget_streams_in_flight") > 0 {
			c.workers[i].kill(sig)
			return c.workers[i], "sent " + sigName[sig] + " to " + c.workers[i].name + " mid-stream"
		}
	}
	return nil, "no worker was streaming when the read for " + sigName[sig] + " started"
}

// stopStreamingWorker SIGSTOPs a streaming worker when the stall read is under way, and
// SIGCONTs it when that read is over (or the check exited).
func stopStreamingWorker(c *cluster, metrics []string, marker string, exited <-chan struct{}) string {
	w, msg := signalStreaming(c, metrics, marker, syscall.SIGSTOP, exited)
	if w != nil {
		waitFile(marker+".done", exited)
		w.kill(syscall.SIGCONT)
		msg += ", SIGCONTed after the read"
	}
	return msg
}

// waitFile waits for a file to exist: false if the check exited first, or after 10 minutes.
func waitFile(name string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(name); err == nil {
			return true
		}
		select {
		case <-exited:
			_, err := os.Stat(name)
			return err == nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// scrape sums the samples of a metric on a /metrics page (0 when unreachable).
func scrape(u, metric string) float64 {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metric) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
