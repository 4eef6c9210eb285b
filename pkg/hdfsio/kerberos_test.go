package hdfsio_test

// Kerberos against a real secure HDFS: a MiniDFSCluster with a KDC in the
// same JVM (hdfstest.Options.Secure), block access tokens and SASL data
// transfer protection on the DataNodes, HTTPS only. Started once, lazily,
// by the first test that needs it, and closed by TestMain; the DataNodes are
// restarted to switch between protection levels instead of starting a new
// cluster per level.

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

var (
	secureOnce    sync.Once
	secureCluster *hdfstest.Cluster
	secureErr     error
)

// closeSecure closes the secure cluster if a test started it (TestMain).
func closeSecure() {
	if secureCluster != nil {
		secureCluster.Close()
	}
}

// useSecure starts the shared secure cluster (once) and writes the corpus
// into it as HDFS's superuser (hdfs/localhost from its keytab).
func useSecure(t *testing.T) *hdfstest.Cluster {
	t.Helper()
	if hdfstest.Disabled() {
		t.Skipf("%s=1: HDFS tests skipped", hdfstest.SkipEnv)
	}
	secureOnce.Do(func() {
		start := time.Now()
		c, err := hdfstest.StartCluster(hdfstest.Options{DataNodes: 2, Replication: 2, Secure: "authentication"})
		if err != nil {
			secureErr = err
			return
		}
		secureCluster = c
		t.Logf("secure cluster (KDC, NameNode, 2 DataNodes) up in %s", time.Since(start).Round(time.Millisecond))
		cl, err := c.SuperuserClient()
		if err != nil {
			secureErr = err
			return
		}
		defer cl.Close()
		secureErr = putCorpus(cl)
	})
	if secureErr != nil {
		t.Fatalf("secure cluster: %v", secureErr)
	}
	return secureCluster
}

func putCorpus(c *hdfs.Client) error {
	for _, d := range corpusDirs {
		if err := c.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for p, data := range corpus {
		if err := c.MkdirAll(path.Dir(p), 0o755); err != nil {
			return err
		}
		w, err := c.Create(p)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		if err := hdfstest.CloseWriter(w); err != nil {
			return err
		}
	}
	return nil
}

// secureConfig is a client config for the secure cluster from the Hadoop
// configuration it wrote (hadoop.security.authentication=kerberos, the
// NameNode principal, dfs.data.transfer.protection), without credentials.
func secureConfig(t *testing.T, c *hdfstest.Cluster) hdfsio.HDFSConfig {
	t.Helper()
	conf, err := hdfsio.LoadHadoopConf(c.ConfDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(c)
	cfg.Conf = conf
	cfg.Krb5Conf = c.Kerberos().Krb5Conf
	return cfg
}

func keytabConfig(t *testing.T, c *hdfstest.Cluster) hdfsio.HDFSConfig {
	cfg := secureConfig(t, c)
	cfg.KerberosKeytab = c.Kerberos().UserKeytab
	cfg.KerberosPrincipal = c.Kerberos().UserPrincipal
	return cfg
}

// readTree reads every file under /corpus: path → bytes, plus the listing
// (path, size, dir) in walk order.
func readTree(t *testing.T, h *hdfsio.HDFS) (map[string][]byte, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	files := map[string][]byte{}
	var listing []string
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := h.ReadDir(ctx, dir)
		if err != nil {
			t.Fatalf("ReadDir(%s): %v", dir, err)
		}
		for _, fi := range ents {
			p := path.Join(dir, fi.Name())
			if fi.IsDir() {
				listing = append(listing, p+"/")
				walk(p)
				continue
			}
			listing = append(listing, p+" "+strconv.FormatInt(fi.Size(), 10))
			r, err := h.Open(ctx, p)
			if err != nil {
				t.Fatalf("Open(%s): %v", p, err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			files[p] = b
		}
	}
	walk("/corpus")
	return files, listing
}

// TestKerberos reads the corpus from the secure cluster through hdfsio with
// a keytab and with a ticket cache, under each data transfer protection,
// and compares bytes and listing with what was written and with the
// insecure cluster's read of the same files; then checks that bad
// credentials are refused quickly with an error naming the principal.
func TestKerberos(t *testing.T) {
	// The insecure cluster's read is the reference.
	_, plain := corpusFS(t)
	wantFiles, wantListing := readTree(t, plain)
	for p, b := range corpus {
		if string(wantFiles[p]) != string(b) {
			t.Fatalf("insecure read of %s differs from what was written", p)
		}
	}
	sc := useSecure(t)
	k := sc.Kerberos()
	t.Logf("realm %s, KDC %s, krb5.conf %s", k.Realm, k.KDC, k.Krb5Conf)

	check := func(t *testing.T, cfg hdfsio.HDFSConfig) {
		t.Helper()
		defer func() {
			if t.Failed() {
				t.Logf("--- secure cluster log ---\n%s", sc.LogTail(40))
			}
		}()
		start := time.Now()
		h := newFS(t, cfg)
		files, listing := readTree(t, h)
		if !slices.Equal(listing, wantListing) {
			t.Errorf("listing differs from the insecure cluster's:\n got %q\nwant %q", listing, wantListing)
		}
		if len(files) != len(wantFiles) {
			t.Errorf("read %d files, want %d", len(files), len(wantFiles))
		}
		for p, want := range wantFiles {
			if string(files[p]) != string(want) {
				t.Errorf("%s: %d bytes differ from the insecure cluster's %d", p, len(files[p]), len(want))
			}
		}
		t.Logf("read %d files (%d bytes) in %s", len(files), total(files), time.Since(start).Round(time.Millisecond))
	}
	ccache, err := k.Kinit(t.TempDir(), k.UserPrincipal, k.UserKeytab)
	if err != nil {
		t.Fatal(err)
	}
	ccacheConfig := func(t *testing.T) hdfsio.HDFSConfig {
		cfg := secureConfig(t, sc)
		cfg.KerberosCCache = ccache
		return cfg
	}

	levels := []struct {
		name, level, suites, client string
		// colinmarcBug: colinmarc/hdfs v2.4.0 cannot read these (see
		// colinmarcSASLBug); the test pins the failure so that a fixed
		// release shows up here.
		colinmarcBug bool
	}{
		{"authentication", "authentication", "", "", false},
		// SASL DIGEST-MD5 wrapping (auth-int), every frame HMAC'd.
		{"integrity", "integrity", "", "integrity", true},
		// DIGEST-MD5's own cipher (auth-conf): rc4 with colinmarc/hdfs.
		{"privacy rc4", "privacy", "", "privacy", true},
		// auth-conf, then AES/CTR streams with keys negotiated in the
		// handshake (dfs.encrypt.data.transfer.cipher.suites), as Hadoop
		// recommends for privacy.
		{"privacy AES", "privacy", "AES/CTR/NoPadding", "privacy", false},
	}
	for i, lv := range levels {
		if i > 0 {
			start := time.Now()
			if err := sc.SetDataTransferProtection(lv.level, lv.suites); err != nil {
				t.Fatal(err)
			}
			t.Logf("DataNodes restarted with %s %s in %s", lv.level, lv.suites, time.Since(start).Round(time.Millisecond))
		}
		if lv.colinmarcBug {
			t.Run(lv.name+"/keytab (colinmarc/hdfs bug)", func(t *testing.T) {
				cfg := keytabConfig(t, sc)
				cfg.DataTransferProtection = lv.client
				colinmarcSASLBug(t, cfg)
			})
			continue
		}
		t.Run(lv.name+"/keytab", func(t *testing.T) {
			cfg := keytabConfig(t, sc)
			cfg.DataTransferProtection = lv.client
			check(t, cfg)
		})
		t.Run(lv.name+"/ccache", func(t *testing.T) {
			cfg := ccacheConfig(t)
			cfg.DataTransferProtection = lv.client
			check(t, cfg)
		})
		if lv.level == "authentication" {
			t.Run("client demanding privacy refuses authentication-only DataNodes", func(t *testing.T) {
				cfg := keytabConfig(t, sc)
				cfg.DataTransferProtection = "privacy"
				h := newFS(t, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				start := time.Now()
				r, err := h.Open(ctx, "/corpus/a.txt")
				if err == nil {
					_, err = io.ReadAll(r)
					r.Close()
				}
				if err == nil || !strings.Contains(err.Error(), "qop") {
					t.Errorf("read with privacy demanded from authentication-only DataNodes: %v, want a qop error", err)
				}
				if took := time.Since(start); took > 2*time.Minute { // liveness: refused, not hung until the context ends
					t.Errorf("refusal took %s", took)
				}
				t.Logf("refused: %v", err)
			})
		}
	}

	t.Run("bad credentials are refused naming the principal", func(t *testing.T) {
		dir := t.TempDir()
		// A keytab for a principal the KDC does not know, and one for alice
		// with a key the KDC does not have.
		forged := func(name, principal string) string {
			kt := keytab.New()
			p, realm, _ := strings.Cut(principal, "@")
			for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96} {
				if err := kt.AddEntry(p, realm, "not-the-password", time.Now(), 1, et); err != nil {
					t.Fatal(err)
				}
			}
			b, err := kt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}
		unknown := "mallory@" + k.Realm
		cases := []struct{ name, principal, keytab string }{
			{"principal unknown to the KDC", unknown, forged("mallory.keytab", unknown)},
			{"wrong key for alice", k.UserPrincipal, forged("alice-wrong.keytab", k.UserPrincipal)},
			{"keytab without the principal", k.UserPrincipal, k.HDFSKeytab},
			{"principal in another realm", "alice@OTHER.EXAMPLE", k.UserKeytab},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cfg := secureConfig(t, sc)
				cfg.KerberosKeytab, cfg.KerberosPrincipal = tc.keytab, tc.principal
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				start := time.Now()
				h, err := hdfsio.NewHDFS(ctx, cfg)
				if err == nil {
					h.Close()
					t.Fatalf("%s with %s was accepted", tc.principal, tc.keytab)
				}
				if !strings.Contains(err.Error(), tc.principal) {
					t.Errorf("error does not name %s: %v", tc.principal, err)
				}
				if took := time.Since(start); took > 2*time.Minute { // liveness: refused, not hung until the context ends
					t.Errorf("refusal took %s", took)
				}
				t.Logf("%s", err)
			})
		}
		t.Run("no credentials for a kerberos cluster", func(t *testing.T) {
			_, err := hdfsio.NewHDFS(context.Background(), secureConfig(t, sc))
			if err == nil || !strings.Contains(err.Error(), "kerberos") {
				t.Errorf("got %v, want an error asking for Kerberos credentials", err)
			}
		})
		t.Run("simple auth refused by the NameNode", func(t *testing.T) {
			cfg := testConfig(sc) // no Hadoop configuration: simple auth
			cfg.User = "hdfs"
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			start := time.Now()
			h, err := hdfsio.NewHDFS(ctx, cfg)
			if err == nil {
				h.Close()
				t.Fatal("simple auth accepted by a Kerberos NameNode")
			}
			// The NameNode answers a simple connection with an error and
			// closes it: depending on timing the client reads the answer
			// (reported as the refusal) or finds the socket closed under
			// its next write. Either way it must fail, and fast.
			msg := err.Error()
			refused := strings.Contains(msg, "refused simple authentication as hdfs")
			closed := strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")
			if !refused && !closed {
				t.Errorf("got %v, want the NameNode's SIMPLE authentication refusal (or its closed connection)", err)
			}
			if took := time.Since(start); took > 2*time.Minute { // liveness: refused, not hung until the context ends
				t.Errorf("refusal took %s", took)
			}
			t.Logf("%s", err)
		})
	})
}

// colinmarcSASLBug pins a bug of colinmarc/hdfs v2.4.0: its DIGEST-MD5
// integrity and privacy connections (internal/transfer/digest_md5_integrity.go
// and digest_md5_privacy.go) end Read with `return d.readBuf.Read(b[n:])`,
// dropping the n bytes already copied from the previous SASL frame when one
// Read spans two frames. Hadoop's DataNode writes its BlockOpResponseProto
// in several small frames (the varint length alone in the first), so every
// read of a non-empty file fails with "proto: cannot parse invalid
// wire-format data". (Patched locally to `m, err := d.readBuf.Read(b[n:]);
// return n + m, err`, both levels read correctly.) The failure is quick and
// clear; empty files, which need no DataNode, still read.
func colinmarcSASLBug(t *testing.T, cfg hdfsio.HDFSConfig) {
	t.Helper()
	h := newFS(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	r, err := h.Open(ctx, "/corpus/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err == nil {
		if string(got) == string(corpus["/corpus/b.bin"]) {
			t.Fatal("colinmarc/hdfs now reads this protection level: the bug is fixed — make this level a full check and update docs/security.md")
		}
		t.Fatal("read returned wrong bytes without an error")
	}
	if !strings.Contains(err.Error(), "cannot parse invalid wire-format data") {
		t.Errorf("got %v, want colinmarc's known proto parse failure", err)
	}
	if took := time.Since(start); took > 2*time.Minute { // liveness: refused, not hung until the context ends
		t.Errorf("failure took %s", took)
	}
	t.Logf("known colinmarc/hdfs v2.4.0 failure: %v", err)
}

func total(m map[string][]byte) int {
	n := 0
	for _, b := range m {
		n += len(b)
	}
	return n
}
