package hdfstest_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfstest"
)

// TestStartStop checks the harness itself: the cluster answers on
// 127.0.0.1, writes a client config, takes commands, and Close leaves no
// process and no files behind.
func TestStartStop(t *testing.T) {
	if hdfstest.Disabled() {
		t.Skip(hdfstest.SkipEnv + "=1")
	}
	c, err := hdfstest.StartCluster(hdfstest.Options{DataNodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %v: namenode %s, http %s, datanodes %+v", c.Startup(), c.NameNode(), c.HTTPAddr(), c.DataNodes())
	for _, a := range []string{c.NameNode(), c.HTTPAddr(), c.DataNodes()[0].Xfer} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("address %s is not on 127.0.0.1", a)
		}
		conn, err := net.DialTimeout("tcp", a, 30*time.Second)
		if err != nil {
			t.Errorf("dial %s: %v", a, err)
		} else {
			conn.Close()
		}
	}
	site, err := os.ReadFile(filepath.Join(c.ConfDir(), "core-site.xml"))
	if err != nil || !strings.Contains(string(site), "hdfs://"+c.NameNode()) {
		t.Errorf("core-site.xml: %v %s", err, site)
	}
	if err := c.StopDataNode(5); err == nil {
		t.Error("StopDataNode(5) of 1 succeeded")
	}
	if err := c.StopDataNode(0); err != nil {
		t.Error(err)
	}
	if err := c.StopDataNode(0); err == nil {
		t.Error("stopping a stopped DataNode succeeded")
	}
	if err := c.RestartDataNode(0); err != nil {
		t.Error(err)
	}
	logPath := c.LogPath()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(logPath)); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind (%v)", filepath.Dir(logPath), err)
	}
	if conn, err := net.DialTimeout("tcp", c.NameNode(), time.Second); err == nil {
		conn.Close()
		t.Errorf("NameNode %s still answers after Close", c.NameNode())
	}
	if err := c.StopNameNode(); err == nil {
		t.Error("command after Close succeeded")
	}
}

func TestStartFailureIsAnError(t *testing.T) {
	if hdfstest.Disabled() {
		t.Skip(hdfstest.SkipEnv + "=1")
	}
	// The NameNode port is taken: the start must fail, with the JVM's log.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := hdfstest.StartCluster(hdfstest.Options{DataNodes: 1, NameNodePort: port, StartTimeout: 20 * time.Minute})
	if err == nil {
		c.Close()
		t.Fatal("a cluster on a taken port started")
	}
	if !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "JVM log") {
		t.Errorf("error %q", err)
	}
	t.Logf("%.300s", err)
}
