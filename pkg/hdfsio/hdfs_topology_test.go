package hdfsio_test

// Where things are: block locations over WebHDFS, and NameNodes found
// through an HA nameservice in the Hadoop configuration.

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

func TestBlockHosts(t *testing.T) {
	c, _ := corpusFS(t)
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
	c, _ := corpusFS(t)
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
	cfg.DialTimeout, cfg.RPCTimeout = 10*time.Second, 30*time.Second
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
