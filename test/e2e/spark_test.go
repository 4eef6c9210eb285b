//go:build sparkjvm

// The JVM connector (clients/spark) in real Spark from Maven Central, one JVM per Spark
// line, against a real coordinator and workers. Built only with -tags sparkjvm: the
// "spark connector (JVM)" stage of test/run.sh runs it after clients/spark/build.sh.

package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
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
	ExplainCount                        string
	CountDropInvalid                    int
	CountDropInvalidImage               int
	ExplainDropInvalidCount             string
	ExplainWhere                        string
	WhereCount, WhereCountImage         int
	ExplainNotPushed                    string
	NotPushedCount, NotPushedCountImage int
	ExplainLimit                        string
	LimitCount, LimitRows               int
	Partitions                          []struct {
		Partition    string
		Preferred    []string
		RddPreferred [][]string
	}
	PartitionRows        int
	ReadImagesCount      int
	FailoverClean        []string
	FailoverKilled       []string
	SecureCount          int
	SecureBytes          int64
	SecureBadPassword    string
	FailoverCleanMetrics map[string]int64
	FailoverMetrics      map[string]int64
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

	// Small batches and one decoder per worker: the failover read's streams are long
	// enough for a SIGKILL to land mid-stream.
	c := &cluster{t: t, roots: []string{root}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1")
	var metrics []string
	for i := 0; i < 3; i++ {
		host := fmt.Sprintf("127.0.0.%d", len(c.workers)+2)
		m := servertest.FreeAddr(t, host)
		metrics = append(metrics, "http://"+m+"/metrics")
		c.addWorker(fmt.Sprintf("w%d", i+1), "--metrics-listen", m, "--decoders", "1", "--batch-bytes", "200000")
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
			res := runCheck(t, c, line, jars[i], dir, failDir, metrics, secureArgs)
			if !strings.HasPrefix(res.Spark, line.sparkPrefix) || !strings.HasPrefix(res.Scala, line.name[strings.Index(line.name, "_")+1:]) {
				t.Errorf("ran Spark %s / Scala %s, want %s", res.Spark, res.Scala, line.name)
			}
			assertRows(t, res, entries)
			assertPruning(t, res, entries)
			assertPushdown(t, res, entries)
			assertLocality(t, res, c)
			assertFailover(t, res)
			assertSecure(t, res, entries)
			runReadmeJava(t, c, line, jars[i], readmeDir, entries)
			if line.name == "4_2.13" {
				runReadmePython(t, c, jars[i], readmeDir, entries)
			}
		})
	}
}

// assertSecure: a read over TLS with a basic-auth login gets every row and its pixels
// (the workers take the coordinator's token); a wrong password is refused.
func assertSecure(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	if res.SecureCount != len(entries) || res.SecureBytes <= 0 {
		t.Errorf("TLS + auth read: %d rows, %d pixel bytes; want %d rows", res.SecureCount, res.SecureBytes, len(entries))
	}
	if !strings.Contains(res.SecureBadPassword, "UNAUTHENTICATED") {
		t.Errorf("a wrong password gave %q, want UNAUTHENTICATED", res.SecureBadPassword)
	}
}

// runWireVectors checks the connector's resume and batch-metadata codec against
// pkg/wire/testdata/vectors.json, the vectors the Go and Python clients pass.
func runWireVectors(t *testing.T, line sparkLine, jar string) {
	t.Helper()
	cp := jar + ":" + sparkClasspath(t, line)
	classes := t.TempDir()
	src := "../../clients/spark/check/io/imageflight/spark/WireVectorsCheck.java"
	if out, err := exec.Command("javac", "-nowarn", "-d", classes, "-cp", cp, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	out, err := exec.Command("java", "-cp", classes+":"+cp, "io.imageflight.spark.WireVectorsCheck",
		"../../pkg/wire/testdata/vectors.json").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(" passed, 0 failed")) {
		t.Errorf("wire vectors: %v\n%s", err, out)
	}
}

func sparkClasspath(t *testing.T, line sparkLine) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../clients/spark/sparkdeps/target", "cp-"+line.name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// readmeBlocks returns the ```lang blocks of clients/spark/README.md.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../clients/spark/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(b), "```"+lang+"\n")[1:] {
		end := strings.Index(part, "```")
		if end < 0 {
			t.Fatalf("unterminated %s block", lang)
		}
		out = append(out, part[:end])
	}
	if len(out) == 0 {
		t.Fatalf("clients/spark/README.md has no %s block", lang)
	}
	return out
}

// runReadmeJava compiles and runs the README's Java example, as written, in a folder
// holding data/images.
func runReadmeJava(t *testing.T, c *cluster, line sparkLine, jar, wd string, entries []corpus.Entry) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "ReadmeExample.java")
	if err := os.WriteFile(src, []byte(readmeBlocks(t, "java")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := jar + ":" + sparkClasspath(t, line)
	classes := t.TempDir()
	if out, err := exec.Command("javac", "-nowarn", "-d", classes, "-cp", cp, src).CombinedOutput(); err != nil {
		t.Fatalf("javac README example: %v\n%s", err, out)
	}
	java := exec.Command("java", append(append([]string{}, sparkJavaOptions...), "-cp", classes+":"+cp, "ReadmeExample")...)
	java.Dir = wd
	java.Env = append(os.Environ(), "IMAGEFLIGHT_COORDINATOR="+c.location())
	var stderr bytes.Buffer
	java.Stderr = &stderr
	out, err := java.Output()
	if err != nil {
		t.Fatalf("README Java example: %v\n%s", err, tail(stderr.String(), 4000))
	}
	text := string(out)
	if !strings.Contains(text, "|-- cls: string") || !strings.Contains(text, fmt.Sprintf("\n%d\n", valid(entries))) ||
		!strings.Contains(text, "cls=cats") {
		t.Errorf("README Java example printed:\n%s", text)
	}
}

// runReadmePython runs the README's PySpark block with the project virtualenv's PySpark 4
// and the Spark 4 jar.
func runReadmePython(t *testing.T, c *cluster, jar, wd string, entries []corpus.Entry) {
	t.Helper()
	py := exec.Command(venvPython(t), "-c", readmeBlocks(t, "python")[0])
	py.Dir = wd
	py.Env = append(os.Environ(), "IMAGEFLIGHT_COORDINATOR="+c.location(), "IMAGEFLIGHT_JAR="+jar)
	var stderr bytes.Buffer
	py.Stderr = &stderr
	out, err := py.Output()
	if err != nil {
		t.Fatalf("README PySpark example: %v\n%s", err, tail(stderr.String(), 4000))
	}
	groups := map[string]int{}
	for _, e := range entries {
		groups[partOf(e.Rel, "cls")]++
	}
	text := string(out)
	for cls, n := range groups {
		if !strings.Contains(text, fmt.Sprintf("Row(cls='%s', count=%d)", cls, n)) {
			t.Errorf("README PySpark example: no count %d for %s in:\n%s", n, cls, text)
		}
	}
	if !strings.Contains(text, "PushedFilters: [IsNotNull(split), EqualTo(split,train)]") {
		t.Errorf("README PySpark example's explain() shows no pushed filter:\n%s", text)
	}

	// The README's word on the name clash: with the jar, the Python source cannot register.
	clash := exec.Command(venvPython(t), "-c", `
import os
from pyspark.sql import SparkSession
import imageflight.spark
spark = (SparkSession.builder.master("local[1]")
         .config("spark.jars", os.environ["IMAGEFLIGHT_JAR"]).getOrCreate())
try:
    imageflight.spark.register(spark)
    print("registered")
except Exception as e:
    print(e)
`)
	clash.Env = append(os.Environ(), "IMAGEFLIGHT_JAR="+jar, "PYTHONPATH="+mustAbs(t, "../../clients/python"))
	out, err = clash.Output()
	if err != nil || !bytes.Contains(out, []byte("DATA_SOURCE_ALREADY_EXISTS")) {
		t.Errorf("Python source registered beside the jar: %v\n%s", err, out)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
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
// reports its failover read under way, a worker that is streaming is SIGKILLed.
func runCheck(t *testing.T, c *cluster, line sparkLine, jar, dir, failDir string, metrics, secureArgs []string) checkResult {
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
	killed := make(chan string, 1)
	go func() { killed <- killStreamingWorker(c, metrics, marker) }()
	var result []byte
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("CHECK-RESULT ")); ok {
			result = bytes.Clone(rest)
		}
	}
	err = java.Wait()
	t.Logf("Spark %s check ran in %s; %s", line.name, time.Since(start).Round(time.Second), <-killed)
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

// killStreamingWorker waits for the check's marker, SIGKILLs a worker with a DoGet stream
// in flight, and tells the check to go on.
func killStreamingWorker(c *cluster, metrics []string, marker string) string {
	defer os.WriteFile(marker+".killed", nil, 0o644)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if _, err := os.Stat(marker + ".reading"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "the failover read never started"
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, m := range metrics {
		if scrape(m, "imageflight_doget_streams_in_flight") > 0 {
			c.workers[i].kill(syscall.SIGKILL)
			return "SIGKILLed " + c.workers[i].name + " mid-stream"
		}
	}
	return "no worker was streaming when the failover read started"
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

// row is one line of ConnectorCheck's rows: origin h w c mode sha256 cls=.. split=..
type row struct {
	rel             string
	h, w, c, mode   int
	sha, cls, split string
}

func parseRows(t *testing.T, lines []string, dir string) map[string]row {
	t.Helper()
	out := map[string]row{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 8 {
			t.Fatalf("bad row %q", l)
		}
		u, err := url.Parse(f[0]) // Spark 3.5 says file:///d/x, the server file:/d/x: same URI
		if err != nil || u.Scheme != "file" {
			t.Fatalf("origin %q is not a file: URI", f[0])
		}
		rel, err := filepath.Rel(dir, u.Path)
		if err != nil {
			t.Fatal(err)
		}
		var r row
		r.rel, r.sha, r.cls, r.split = filepath.ToSlash(rel), f[5], f[6], f[7]
		for i, p := range []*int{&r.h, &r.w, &r.c, &r.mode} {
			*p, _ = strconv.Atoi(f[1+i])
		}
		if _, dup := out[r.rel]; dup {
			t.Errorf("two rows for %s", r.rel)
		}
		out[r.rel] = r
	}
	return out
}

var emptySHA = hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }())

// assertRows: the connector's rows equal Spark's format("image") on the same folder, but
// for the documented deviations (docs/spark.md of the Python source, test_spark_oracle.py):
// WebP (Spark cannot decode it), broken files (Spark salvages a truncated JPEG, skips a
// zero-byte file), 16-bit gray PNG (Spark keeps the low byte). Lossless rows must also
// equal the corpus's expected bytes.
func assertRows(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	if res.SchemaImage != res.SchemaOurs {
		t.Errorf("schema differs from format(\"image\"):\n%s\n%s", res.SchemaImage, res.SchemaOurs)
	}
	dir := commonDir(t, res.RowsOurs)
	spark, ours := parseRows(t, res.RowsImage, dir), parseRows(t, res.RowsOurs, dir)
	if len(ours) != len(entries) {
		t.Errorf("connector read %d rows, want one per corpus file (%d)", len(ours), len(entries))
	}
	same, deviations := 0, 0
	for _, e := range entries {
		o, ok := ours[e.Rel]
		if !ok {
			t.Errorf("%s: no row from the connector", e.Rel)
			continue
		}
		if want := "cls=" + partOf(e.Rel, "cls"); o.cls != want || o.split != "split="+partOf(e.Rel, "split") {
			t.Errorf("%s: partition values %s %s", e.Rel, o.cls, o.split)
		}
		if [4]int{o.h, o.w, o.c, o.mode} != [4]int{int(e.Height), int(e.Width), int(e.NChannels), int(e.Mode)} {
			t.Errorf("%s: shape %v, corpus expects %v", e.Rel, [4]int{o.h, o.w, o.c, o.mode}, e)
		}
		if e.Data != nil {
			if s := sha256.Sum256(e.Data); hex.EncodeToString(s[:]) != o.sha {
				t.Errorf("%s: pixels differ from the corpus's expected bytes", e.Rel)
			}
		}
		s, inSpark := spark[e.Rel]
		switch {
		case e.Format == "broken":
			deviations++
			if o.h != -1 || o.sha != emptySHA {
				t.Errorf("%s: broken file should give the invalid row, got %+v", e.Rel, o)
			}
		case e.Format == "webp":
			deviations++
			if !inSpark || s.h != -1 {
				t.Errorf("%s: Spark decoded WebP (%+v): the documented deviation is gone", e.Rel, s)
			}
		case !inSpark:
			t.Errorf("%s: no row from format(\"image\")", e.Rel)
		case s == o:
			same++
		case e.Format == "png" && e.NChannels == 1 && s.h == o.h && s.sha != o.sha && e.Data != nil:
			deviations++ // 16-bit gray: Spark keeps the low byte; ours equals the corpus's bytes (checked above)
		default:
			t.Errorf("%s: rows differ\nSpark:     %+v\nconnector: %+v", e.Rel, s, o)
		}
	}
	t.Logf("rows: %d identical to format(\"image\") (JPEG included), %d documented deviations", same, deviations)
	if same < len(entries)-8 {
		t.Errorf("only %d of %d rows identical", same, len(entries))
	}
}

func commonDir(t *testing.T, rows []string) string {
	t.Helper()
	for _, l := range rows {
		u, _ := url.Parse(strings.Fields(l)[0])
		if i := strings.Index(u.Path, "/cls="); i > 0 {
			return u.Path[:i]
		}
	}
	t.Fatal("no row under a cls= folder")
	return ""
}

func partOf(rel, key string) string {
	for _, seg := range strings.Split(rel, "/") {
		if v, ok := strings.CutPrefix(seg, key+"="); ok {
			return v
		}
	}
	return ""
}

func valid(entries []corpus.Entry) int {
	n := 0
	for _, e := range entries {
		if e.Height > 0 {
			n++
		}
	}
	return n
}

// assertPruning: queries that read no pixels put no row with pixels into any batch.
func assertPruning(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	n := len(entries)
	for name, m := range map[string]measured{"count()": res.Count, `select("cls")`: res.SelectCls,
		`groupBy("cls").count()`: res.GroupBy, `select(height, width)`: res.HeightWidth} {
		if m.PixelRows != 0 || m.Images != int64(n) {
			t.Errorf("%s: workers put %d rows with pixels into batches and read %d images, want 0 and %d",
				name, m.PixelRows, m.Images, n)
		}
	}
	if res.Full.PixelRows != int64(valid(entries)) {
		t.Errorf("full read: %d rows with pixels, want %d (every valid image)", res.Full.PixelRows, valid(entries))
	}
	if string(res.Count.Result) != strconv.Itoa(n) {
		t.Errorf("count() = %s, want %d", res.Count.Result, n)
	}
	groups := map[string]int{}
	for _, e := range entries {
		groups[partOf(e.Rel, "cls")]++
	}
	var want []string
	for k, v := range groups {
		want = append(want, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(want)
	var got []string
	if err := json.Unmarshal(res.GroupBy.Result, &got); err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("groupBy(cls).count() = %s, want %v", res.GroupBy.Result, want)
	}
	if !strings.Contains(res.ExplainCount, "HeaderOnly: true") {
		t.Errorf("count() is not header-only:\n%s", res.ExplainCount)
	}
	// With dropInvalid a header-only read would keep a file whose body is corrupt: decode.
	if !strings.Contains(res.ExplainDropInvalidCount, "HeaderOnly: false") || res.CountDropInvalid != valid(entries) {
		t.Errorf("dropInvalid count() = %d (want %d), plan:\n%s", res.CountDropInvalid, valid(entries), res.ExplainDropInvalidCount)
	}
	if res.ReadImagesCount != valid(entries) {
		t.Errorf("ImageFlight.readImages(dropImageFailures=true).count() = %d, want %d", res.ReadImagesCount, valid(entries))
	}
	// Pruned (header) dimensions equal the decoded ones but for a broken file whose header parses.
	var hw []string
	_ = json.Unmarshal(res.HeightWidth.Result, &hw)
	full := map[string]string{}
	for _, l := range res.RowsOurs {
		f := strings.Fields(l)
		full[f[0]] = f[1] + " " + f[2]
	}
	for _, l := range hw {
		f := strings.Fields(l)
		if full[f[0]] != f[1]+" "+f[2] && !strings.Contains(f[0], "truncated") {
			t.Errorf("%s: header-only %s %s, decoded %s", f[0], f[1], f[2], full[f[0]])
		}
	}
}

// filterNode matches a Filter operator line of an explain() tree.
var filterNode = regexp.MustCompile(`(?m)^[\s+*()\d-]*Filter `)

// assertPushdown: partition filters and LIMIT reach the scan, shown in explain().
func assertPushdown(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	cats := 0
	for _, e := range entries {
		if partOf(e.Rel, "cls") == "cats" {
			cats++
		}
	}
	if !strings.Contains(res.ExplainWhere, "EqualTo(cls,cats)") || !strings.Contains(res.ExplainWhere, "In(split, [test,train])") ||
		filterNode.MatchString(res.ExplainWhere) {
		t.Errorf("where(cls = 'cats' AND split IN ...) not fully pushed:\n%s", res.ExplainWhere)
	}
	if res.WhereCount != cats {
		t.Errorf("where count %d, want %d (Spark's own: %d)", res.WhereCount, cats, res.WhereCountImage)
	}
	if !filterNode.MatchString(res.ExplainNotPushed) || !strings.Contains(res.ExplainNotPushed, "PushedFilters: []") {
		t.Errorf("a filter on image.height must stay in Spark:\n%s", res.ExplainNotPushed)
	}
	if !strings.Contains(res.ExplainLimit, "PushedLimit: 3") || res.LimitCount != 3 || res.LimitRows != 3 {
		t.Errorf("limit(3): %d rows, count %d, plan:\n%s", res.LimitRows, res.LimitCount, res.ExplainLimit)
	}
}

var partitionRE = regexp.MustCompile(`^EndpointPartition\((\d+), \[(.*)\]\)$`)

// assertLocality: each Spark partition prefers the hosts of its endpoint's locations, in order.
func assertLocality(t *testing.T, res checkResult, c *cluster) {
	t.Helper()
	workerHosts := map[string]bool{}
	for _, w := range c.workers {
		workerHosts[strings.Split(w.flight, ":")[0]] = true
	}
	var rddPrefs [][]string
	n := 0
	for _, p := range res.Partitions {
		if p.RddPreferred != nil {
			rddPrefs = p.RddPreferred
			continue
		}
		n++
		m := partitionRE.FindStringSubmatch(p.Partition)
		if m == nil {
			t.Fatalf("partition %q", p.Partition)
		}
		var hosts []string
		for _, loc := range strings.Split(m[2], ", ") {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if !workerHosts[u.Hostname()] {
				t.Errorf("location %s is not a worker", loc)
			}
			hosts = append(hosts, u.Hostname())
		}
		if strings.Join(p.Preferred, ",") != strings.Join(hosts, ",") {
			t.Errorf("%s prefers %v, want its locations' hosts %v", p.Partition, p.Preferred, hosts)
		}
	}
	if n != 4 || len(rddPrefs) != 4 {
		t.Errorf("numPartitions=4 gave %d input partitions and %d RDD partitions", n, len(rddPrefs))
	}
	for i, p := range rddPrefs {
		if i < len(res.Partitions) && strings.Join(p, ",") != strings.Join(res.Partitions[i].Preferred, ",") {
			t.Errorf("RDD partition %d prefers %v, its input partition %v", i, p, res.Partitions[i].Preferred)
		}
	}
}

// assertFailover: the read during which a streaming worker was SIGKILLed gave the same
// multiset of rows as the clean read, with a resume or failover recorded in Spark's metrics.
func assertFailover(t *testing.T, res checkResult) {
	t.Helper()
	if len(res.FailoverClean) == 0 || strings.Join(res.FailoverClean, "\n") != strings.Join(res.FailoverKilled, "\n") {
		t.Errorf("rows after the SIGKILL differ: %d rows, clean read %d", len(res.FailoverKilled), len(res.FailoverClean))
	}
	if res.FailoverCleanMetrics["imageflightRows"] != int64(len(res.FailoverClean)) {
		t.Errorf("custom metric imageflightRows = %d, want %d", res.FailoverCleanMetrics["imageflightRows"], len(res.FailoverClean))
	}
	moved := res.FailoverMetrics["imageflightResumes"] + res.FailoverMetrics["imageflightFailovers"]
	if moved == 0 {
		t.Errorf("no resume or failover recorded after the SIGKILL: %v", res.FailoverMetrics)
	}
	t.Logf("failover read: %d rows, metrics %v", len(res.FailoverKilled), res.FailoverMetrics)
}
