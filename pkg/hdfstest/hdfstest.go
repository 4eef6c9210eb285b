// Package hdfstest starts a real HDFS (a NameNode and N DataNodes in one JVM,
// Hadoop's MiniDFSCluster from Maven Central) for integration tests, on
// 127.0.0.1 with free ports, and tears it down afterwards.
//
// It needs Java 17+ and Maven; the jars and the launcher are installed by
// test/hdfs/setup.sh, which Start runs itself (idempotent, fast once done).
//
// One JVM per test package:
//
//	var hdfsCluster *hdfstest.Cluster
//
//	func TestMain(m *testing.M) {
//		os.Exit(hdfstest.Main(m, hdfstest.Options{DataNodes: 2}, &hdfsCluster))
//	}
//
//	func TestX(t *testing.T) {
//		c := hdfstest.Use(t, hdfsCluster)
//		... c.NameNode() ...
//	}
//
// or one per test: c := hdfstest.Start(t, hdfstest.Options{}).
//
// With Options.Secure set to a dfs.data.transfer.protection level the
// cluster is Kerberos-secured: a KDC (Hadoop's MiniKdc) runs in the same JVM,
// and Cluster.Kerberos has its realm, krb5.conf, principals and keytabs (see
// also Kinit and SetDataTransferProtection).
//
// With IMAGEFLIGHT_SKIP_HDFS=1 the cluster is not started and the tests that
// need it skip. Otherwise a cluster that fails to start fails the tests, with
// the tail of the JVM's log in the message: a missing Java is a failure, not
// a skip.
package hdfstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to 1, skips HDFS tests.
const SkipEnv = "IMAGEFLIGHT_SKIP_HDFS"

// Options configure a cluster. The zero value is 2 DataNodes, replication 2.
type Options struct {
	// DataNodes to start (default 2).
	DataNodes int
	// Replication is dfs.replication (default min(DataNodes, 3)).
	Replication int
	// NameNodePort and HTTPPort: 0 picks free ports.
	NameNodePort, HTTPPort int
	// Conf is passed to the cluster as -D key=value.
	Conf map[string]string
	// StartTimeout bounds the start (default 20 min: a liveness bound; a
	// cluster that starts in 15 s alone took over 2 min beside two others
	// at load 20, and over 10 min with 4 CPU hogs added: the JVM is
	// starved, not stuck).
	StartTimeout time.Duration
	// LogLevel of the JVM's log4j root logger (default WARN).
	LogLevel string
	// JVMArgs are extra java flags (e.g. "-Xmx2g").
	JVMArgs []string
	// Dir is test/hdfs (default: found from the working directory upwards,
	// or $IMAGEFLIGHT_HDFS_DIR).
	Dir string
	// Secure, when set, starts a Kerberos-secured cluster whose DataNodes
	// use this dfs.data.transfer.protection: "authentication", "integrity"
	// or "privacy" (SASL on unprivileged ports, HTTPS only, block tokens).
	Secure string
}

// Kerberos describes a secure cluster's KDC and credentials. All files are
// in the cluster's temporary directory.
type Kerberos struct {
	Realm string `json:"realm"`
	// KDC is the KDC's address, "127.0.0.1:port" (TCP).
	KDC string `json:"kdc"`
	// Krb5Conf is a krb5.conf naming the realm and the KDC, for gokrb5 and
	// MIT kinit (KRB5_CONFIG).
	Krb5Conf string `json:"krb5conf"`
	// HDFSPrincipal ("hdfs/localhost@REALM") is the NameNode's and the
	// DataNodes' principal; its short name "hdfs" is HDFS's superuser.
	// HDFSKeytab holds it (and HTTP/localhost@REALM).
	HDFSPrincipal string `json:"hdfsPrincipal"`
	HDFSKeytab    string `json:"hdfsKeytab"`
	// UserPrincipal ("alice@REALM") is an ordinary user, in UserKeytab.
	UserPrincipal string `json:"userPrincipal"`
	UserKeytab    string `json:"userKeytab"`
	// Truststore (JKS, password "imageflight") trusts the cluster's
	// self-signed HTTPS certificate.
	Truststore string `json:"truststore"`
	// Protection is the DataNodes' dfs.data.transfer.protection at start.
	Protection string `json:"protection"`
}

// ServicePrincipal is the NameNode principal without its realm, as
// colinmarc/hdfs wants it ("hdfs/localhost").
func (k *Kerberos) ServicePrincipal() string {
	p, _, _ := strings.Cut(k.HDFSPrincipal, "@")
	return p
}

// DataNode is one DataNode's addresses (all on 127.0.0.1).
type DataNode struct {
	Xfer string `json:"xfer"`
	IPC  string `json:"ipc"`
	HTTP string `json:"http"`
	// HTTPS is the DataNode's HTTPS address (secure clusters; port 0 otherwise).
	HTTPS string `json:"https"`
}

type info struct {
	NameNode    string     `json:"nameNode"`
	HTTP        string     `json:"http"`
	HTTPS       string     `json:"https"`
	Kerberos    *Kerberos  `json:"kerberos"`
	StartMillis int64      `json:"startMillis"`
	DataNodes   []DataNode `json:"dataNodes"`
}

// Cluster is a running MiniDFSCluster.
type Cluster struct {
	nameNode, http string
	https          string
	kerberos       *Kerberos
	protection     string // the DataNodes' current data transfer protection
	dataNodes      []DataNode
	confDir        string
	logPath        string
	startup        time.Duration

	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	dir   string // temp dir: data, config, log
	wait  chan error

	mu     sync.Mutex // one command at a time
	closed bool
}

// NameNode is the NameNode RPC address, "127.0.0.1:port".
func (c *Cluster) NameNode() string { return c.nameNode }

// HTTPAddr is the NameNode HTTP (WebHDFS) address, "127.0.0.1:port"; ""
// for a secure cluster, which serves HTTPS only.
func (c *Cluster) HTTPAddr() string { return c.http }

// HTTPSAddr is the NameNode HTTPS address of a secure cluster ("" otherwise).
func (c *Cluster) HTTPSAddr() string { return c.https }

// Kerberos is the KDC and credentials of a secure cluster, nil otherwise.
func (c *Cluster) Kerberos() *Kerberos { return c.kerberos }

// DataTransferProtection is the secure cluster DataNodes' current
// dfs.data.transfer.protection ("" for an insecure cluster).
func (c *Cluster) DataTransferProtection() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.protection
}

// SetDataTransferProtection restarts every DataNode of a secure cluster
// with dfs.data.transfer.protection = level ("authentication", "integrity"
// or "privacy") and dfs.encrypt.data.transfer.cipher.suites = cipherSuites
// ("" for none: privacy then uses DIGEST-MD5's own cipher, rc4 with
// colinmarc/hdfs; "AES/CTR/NoPadding" switches to AES after the handshake).
// It returns once the DataNodes are back. Cheaper than a second cluster.
func (c *Cluster) SetDataTransferProtection(level, cipherSuites string) error {
	if c.kerberos == nil {
		return errors.New("hdfstest: SetDataTransferProtection needs a secure cluster")
	}
	suites := cipherSuites
	if suites == "" {
		suites = "-"
	}
	if _, err := c.command("protection " + level + " " + suites); err != nil {
		return err
	}
	c.mu.Lock()
	c.protection = level
	c.mu.Unlock()
	return nil
}

// URI is "hdfs://127.0.0.1:port" + p.
func (c *Cluster) URI(p string) string { return "hdfs://" + c.nameNode + p }

// DataNodes are the DataNodes as started (index i is StopDataNode's i).
func (c *Cluster) DataNodes() []DataNode { return append([]DataNode(nil), c.dataNodes...) }

// ConfDir holds core-site.xml and hdfs-site.xml for clients (point
// HADOOP_CONF_DIR at it).
func (c *Cluster) ConfDir() string { return c.confDir }

// Startup is how long the JVM took to report ready (from exec to READY).
func (c *Cluster) Startup() time.Duration { return c.startup }

// LogPath is the JVM's log file.
func (c *Cluster) LogPath() string { return c.logPath }

// LogTail returns the last n lines of the JVM's log.
func (c *Cluster) LogTail(n int) string { return tail(c.logPath, n) }

// StopDataNode stops DataNode i (0-based, numbering of the start). The
// NameNode keeps it in its block maps until it times out, so clients still
// try it first and must fail over.
func (c *Cluster) StopDataNode(i int) error {
	_, err := c.command("stopDataNode " + strconv.Itoa(i))
	return err
}

// RestartDataNode starts a stopped DataNode again on its old ports.
func (c *Cluster) RestartDataNode(i int) error {
	_, err := c.command("restartDataNode " + strconv.Itoa(i))
	return err
}

// StopNameNode shuts the NameNode down (its port stops answering).
func (c *Cluster) StopNameNode() error { _, err := c.command("stopNameNode"); return err }

// RestartNameNode starts the NameNode again on the same ports.
func (c *Cluster) RestartNameNode() error { _, err := c.command("restartNameNode"); return err }

// Start starts a cluster for one test (or benchmark) and closes it at the
// test's end. It skips only when IMAGEFLIGHT_SKIP_HDFS=1; a failure to start
// fails the test.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if Disabled() {
		t.Skipf("%s=1: not starting HDFS", SkipEnv)
	}
	c, err := StartCluster(opts)
	if err != nil {
		t.Fatalf("hdfstest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("hdfstest: close: %v", err)
		}
	})
	return c
}

// Disabled reports whether IMAGEFLIGHT_SKIP_HDFS=1.
func Disabled() bool { return os.Getenv(SkipEnv) == "1" }

// Main is for TestMain: it starts one cluster into *c, runs the package's
// tests and closes the cluster. If the cluster cannot start, it prints why
// and returns 1 without running tests (so the package fails); with
// IMAGEFLIGHT_SKIP_HDFS=1 it runs the tests with *c nil (Use skips them).
func Main(m *testing.M, opts Options, c **Cluster) int {
	if !Disabled() {
		cl, err := StartCluster(opts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hdfstest: %v\n", err)
			return 1
		}
		*c = cl
		defer cl.Close()
	}
	return m.Run()
}

// Use returns the cluster Main started, skipping the test when
// IMAGEFLIGHT_SKIP_HDFS=1 and failing it when there is no cluster.
func Use(t testing.TB, c *Cluster) *Cluster {
	t.Helper()
	if Disabled() {
		t.Skipf("%s=1: HDFS tests skipped", SkipEnv)
	}
	if c == nil {
		t.Fatal("hdfstest: no cluster (call hdfstest.Main from TestMain)")
	}
	return c
}

// StartCluster starts a cluster; the caller must Close it. It is long on
// purpose: one linear script (write config, start the JVM, read its READY
// line, wait for the DataNodes) whose steps each clean up on failure.
func StartCluster(opts Options) (*Cluster, error) {
	if opts.DataNodes <= 0 {
		opts.DataNodes = 2
	}
	if opts.Replication <= 0 {
		opts.Replication = min(opts.DataNodes, 3)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 20 * time.Minute
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "WARN"
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = findDir(); err != nil {
			return nil, err
		}
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("java not found on PATH (install openjdk-17-jdk-headless): %w", err)
	}
	setup := exec.Command("bash", filepath.Join(dir, "setup.sh"))
	if out, err := setup.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s/setup.sh: %v\n%s", dir, err, out)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "target", "classpath"))
	if err != nil {
		return nil, fmt.Errorf("after setup.sh: %w", err)
	}

	tmp, err := os.MkdirTemp("", "imageflight-hdfs-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:     tmp,
		confDir: filepath.Join(tmp, "conf"),
		logPath: filepath.Join(tmp, "minihdfs.log"),
		lines:   make(chan string, 16),
		wait:    make(chan error, 1),
	}
	if err := os.MkdirAll(c.confDir, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	args := []string{
		"-Djava.net.preferIPv4Stack=true",
		"-Dminihdfs.log.level=" + opts.LogLevel,
		"-XX:+UseSerialGC",
	}
	args = append(args, opts.JVMArgs...)
	args = append(args, "-cp", strings.TrimSpace(string(cp)), "imageflight.hdfstest.MiniHDFS",
		"-basedir", filepath.Join(tmp, "data"),
		"-datanodes", strconv.Itoa(opts.DataNodes),
		"-replication", strconv.Itoa(opts.Replication),
		"-nnport", strconv.Itoa(opts.NameNodePort),
		"-httpport", strconv.Itoa(opts.HTTPPort),
		"-writeConfig", filepath.Join(c.confDir, "hdfs-site.xml"),
	)
	if opts.Secure != "" {
		args = append(args, "-secure", opts.Secure)
	}
	for k, v := range opts.Conf {
		args = append(args, "-D", k+"="+v)
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	cmd := exec.Command("java", args...)
	cmd.Dir = tmp
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start java: %w", err)
	}
	logf.Close() // the child has its own copy
	c.cmd, c.stdin = cmd, stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() { c.wait <- cmd.Wait() }()

	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				err := c.kill()
				return nil, c.startErr(fmt.Sprintf("JVM exited before it was ready (%v)", err))
			}
			if rest, ok := strings.CutPrefix(line, "READY "); ok {
				var inf info
				if err := json.Unmarshal([]byte(rest), &inf); err != nil {
					c.kill()
					return nil, c.startErr("bad READY line " + line)
				}
				c.nameNode, c.http, c.https, c.dataNodes = inf.NameNode, inf.HTTP, inf.HTTPS, inf.DataNodes
				if opts.Secure != "" {
					if inf.Kerberos == nil {
						c.kill()
						return nil, c.startErr("secure cluster without kerberos info: " + line)
					}
					c.kerberos, c.protection = inf.Kerberos, inf.Kerberos.Protection
				}
				c.startup = time.Since(t0)
				if err := c.writeCoreSite(); err != nil {
					c.Close()
					return nil, err
				}
				return c, nil
			}
			if rest, ok := strings.CutPrefix(line, "FAILED "); ok {
				c.kill()
				return nil, c.startErr(rest)
			}
		case <-timer.C:
			c.kill()
			return nil, c.startErr(fmt.Sprintf("not ready after %v", opts.StartTimeout))
		}
	}
}

func (c *Cluster) startErr(msg string) error {
	err := fmt.Errorf("MiniDFSCluster did not start: %s\n--- JVM log (last 60 lines of %s) ---\n%s", msg, c.logPath, tail(c.logPath, 60))
	os.RemoveAll(c.dir)
	return err
}

// writeCoreSite adds a core-site.xml with fs.defaultFS beside the
// hdfs-site.xml the launcher wrote (which is the cluster's full config).
func (c *Cluster) writeCoreSite() error {
	x := fmt.Sprintf(`<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://%s</value></property>
</configuration>
`, c.nameNode)
	return os.WriteFile(filepath.Join(c.confDir, "core-site.xml"), []byte(x), 0o644)
}

// command sends one control line and waits for its OK/ERR answer.
func (c *Cluster) command(line string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", errors.New("hdfstest: cluster closed")
	}
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return "", fmt.Errorf("hdfstest: %s: %w", line, err)
	}
	select {
	case ans, ok := <-c.lines:
		if !ok {
			return "", fmt.Errorf("hdfstest: %s: JVM exited\n%s", line, c.LogTail(40))
		}
		if rest, ok := strings.CutPrefix(ans, "OK"); ok {
			return strings.TrimSpace(rest), nil
		}
		return "", fmt.Errorf("hdfstest: %s: %s\n%s", line, ans, c.LogTail(40))
	case <-time.After(5 * time.Minute): // liveness: a restart takes seconds alone, a minute on a loaded machine
		return "", fmt.Errorf("hdfstest: %s: no answer in 5 minutes\n%s", line, c.LogTail(40))
	}
}

// Close shuts the cluster down (gracefully, then by killing the process
// group) and removes its temporary directory.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	io.WriteString(c.stdin, "shutdown\n")
	c.stdin.Close()
	var err error
	select {
	case <-c.wait:
	case <-time.After(2 * time.Minute):
		err = errors.New("JVM did not stop in 2 minutes; killed")
		c.kill()
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// kill ends the JVM's process group and waits for it.
func (c *Cluster) kill() error {
	select {
	case err := <-c.wait: // already gone and reaped: its group id is no longer ours
		c.wait <- err
		return err
	default:
	}
	killGroup(c.cmd)
	select {
	case err := <-c.wait:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("JVM did not exit after SIGKILL")
	}
}

func findDir() (string, error) {
	if d := os.Getenv("IMAGEFLIGHT_HDFS_DIR"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			hd := filepath.Join(d, "test", "hdfs")
			if _, err := os.Stat(filepath.Join(hd, "setup.sh")); err != nil {
				return "", fmt.Errorf("no %s/setup.sh (set IMAGEFLIGHT_HDFS_DIR)", hd)
			}
			return hd, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s (set IMAGEFLIGHT_HDFS_DIR to test/hdfs)", wd)
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
