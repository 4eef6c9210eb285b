//go:build sparkjvm

// The connector README's examples and the wire vectors, run in each Spark line.

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/corpus"
)

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
	groups := clsCounts(entries)
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

// runReadmeScala runs the README's spark-shell command as written, with Spark 3.5.9's own
// spark-shell (PyPI pyspark's, Scala 2.12: test/synapseml's virtualenv) on PATH, and types
// the README's Scala block at its prompt. The REPL exits 0 whatever a line did, so every
// line's output is asserted, and no line may print an error.
func runReadmeScala(t *testing.T, c *cluster, jar, wd string, entries []corpus.Entry) {
	t.Helper()
	if out, err := exec.Command("../synapseml/setup.sh").CombinedOutput(); err != nil {
		t.Fatalf("test/synapseml/setup.sh: %v\n%s", err, out)
	}
	shells, _ := filepath.Glob(mustAbs(t, "../synapseml/.venv/lib/python*/site-packages/pyspark/bin/spark-shell"))
	if len(shells) != 1 {
		t.Fatalf("test/synapseml/.venv has no pyspark/bin/spark-shell (%v)", shells)
	}
	sh := exec.Command("bash", "-c", readmeBlocks(t, "sh")[0])
	sh.Dir = wd
	sh.Stdin = strings.NewReader(readmeBlocks(t, "scala")[0])
	sh.Env = append(os.Environ(), "PATH="+filepath.Dir(shells[0])+":"+os.Getenv("PATH"), "SPARK_LOCAL_IP=127.0.0.1",
		"IMAGEFLIGHT_COORDINATOR="+c.location(), "IMAGEFLIGHT_JAR="+jar)
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	out, err := sh.Output()
	text := string(out)
	if err != nil {
		t.Fatalf("README spark-shell example: %v\n%s\n%s", err, text, tail(stderr.String(), 4000))
	}
	groups := clsCounts(entries)
	var want []string
	for cls, n := range groups {
		want = append(want, fmt.Sprintf("|%5s|%5d|", cls, n))
	}
	want = append(want, "Scala version 2.12.", "df: org.apache.spark.sql.DataFrame = [image: struct<origin: string",
		"/split=train/", fmt.Sprintf("Long = %d\n", valid(entries)))
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("README spark-shell example printed no %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "error:") || strings.Contains(text, "Exception") {
		t.Errorf("README spark-shell example failed:\n%s", text)
	}
}
