package hdfsio

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinmarc/hdfs/v2/hadoopconf"
)

// DefaultNameNodePort is the NameNode RPC port Hadoop assumes when a URI or
// rpc-address names only a host.
const DefaultNameNodePort = "8020"

// HadoopConf is a parsed Hadoop client configuration (core-site.xml,
// hdfs-site.xml, mapred-site.xml merged; later files win). The zero value is
// an empty configuration.
type HadoopConf = hadoopconf.HadoopConf

// LoadHadoopConf reads core-site.xml, hdfs-site.xml and mapred-site.xml from
// dir. Missing files are skipped; a directory with none of them gives an
// empty (non-nil) configuration and no error.
func LoadHadoopConf(dir string) (HadoopConf, error) {
	conf, err := hadoopconf.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("hadoop config in %s: %w", dir, err)
	}
	if conf == nil {
		conf = HadoopConf{}
	}
	return conf, nil
}

// LoadHadoopConfFromEnv finds the Hadoop client configuration the way the
// Hadoop CLI does: $HADOOP_CONF_DIR, else $HADOOP_HOME/etc/hadoop (Hadoop 2+)
// or $HADOOP_HOME/conf (Hadoop 1). It returns the directory used ("" and an
// empty configuration when there is none).
func LoadHadoopConfFromEnv() (HadoopConf, string, error) {
	var dirs []string
	if d := os.Getenv("HADOOP_CONF_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if h := os.Getenv("HADOOP_HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, "etc", "hadoop"), filepath.Join(h, "conf"))
	}
	for _, d := range dirs {
		conf, err := LoadHadoopConf(d)
		if err != nil {
			return nil, d, err
		}
		if len(conf) > 0 {
			return conf, d, nil
		}
	}
	return HadoopConf{}, "", nil
}

// DefaultFSAuthority is the authority of fs.defaultFS (or the deprecated
// fs.default.name) when it is an hdfs:// URI, else "".
func DefaultFSAuthority(conf HadoopConf) string {
	for _, k := range []string{"fs.defaultFS", "fs.default.name"} {
		if v := strings.TrimSpace(conf[k]); v != "" {
			u, err := url.Parse(v)
			if err == nil && u.Scheme == "hdfs" {
				return u.Host
			}
		}
	}
	return ""
}

// Nameservices lists the logical nameservices the configuration defines
// (dfs.nameservices, plus any dfs.ha.namenodes.<ns>), sorted.
func Nameservices(conf HadoopConf) []string {
	set := map[string]bool{}
	for _, ns := range splitList(conf["dfs.nameservices"]) {
		set[ns] = true
	}
	for k := range conf {
		if ns, ok := strings.CutPrefix(k, "dfs.ha.namenodes."); ok && ns != "" {
			set[ns] = true
		}
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// ResolveNameNodes turns the authority of an hdfs:// URI into the NameNode
// RPC addresses to dial, as the Java client does:
//
//   - a logical nameservice with dfs.ha.namenodes.<ns> = nn1,nn2 resolves to
//     dfs.namenode.rpc-address.<ns>.<nn> for each NameNode id, in that order;
//   - a (federated, non-HA) nameservice with dfs.namenode.rpc-address.<ns>
//     resolves to that address;
//   - anything else is a host[:port], with port 8020 when none is given;
//   - an empty authority ("hdfs:///path") means fs.defaultFS.
//
// colinmarc/hdfs does not do this itself: its Namenodes() merges every
// rpc-address of every nameservice into one list.
func ResolveNameNodes(conf HadoopConf, authority string) ([]string, error) {
	if authority == "" {
		authority = DefaultFSAuthority(conf)
		if authority == "" {
			return nil, fmt.Errorf("hdfs URI names no namenode and fs.defaultFS is not an hdfs:// URI")
		}
	}
	if ids := splitList(conf["dfs.ha.namenodes."+authority]); len(ids) > 0 {
		addrs := make([]string, 0, len(ids))
		for _, id := range ids {
			key := "dfs.namenode.rpc-address." + authority + "." + id
			a := strings.TrimSpace(conf[key])
			if a == "" {
				return nil, fmt.Errorf("nameservice %q: NameNode %q has no %s", authority, id, key)
			}
			addrs = append(addrs, withDefaultPort(a, DefaultNameNodePort))
		}
		return addrs, nil
	}
	if a := strings.TrimSpace(conf["dfs.namenode.rpc-address."+authority]); a != "" {
		return []string{withDefaultPort(a, DefaultNameNodePort)}, nil
	}
	for _, ns := range splitList(conf["dfs.nameservices"]) {
		if ns == authority {
			return nil, fmt.Errorf("nameservice %q is listed in dfs.nameservices but has neither dfs.ha.namenodes.%s nor dfs.namenode.rpc-address.%s", ns, ns, ns)
		}
	}
	if strings.ContainsAny(authority, "/@?#") {
		return nil, fmt.Errorf("bad hdfs authority %q", authority)
	}
	return []string{withDefaultPort(authority, DefaultNameNodePort)}, nil
}

// ResolveNameNodeHTTP returns the NameNode HTTP (WebHDFS) addresses that go
// with authority: dfs.namenode.http-address.<ns>.<nn> for an HA nameservice,
// dfs.namenode.http-address.<ns> for a federated one, else
// dfs.namenode.http-address, else host:9870 (Hadoop 3's default) for a plain
// host authority. It returns nil when nothing sensible is known.
func ResolveNameNodeHTTP(conf HadoopConf, authority string) []string {
	if authority == "" {
		authority = DefaultFSAuthority(conf)
	}
	if ids := splitList(conf["dfs.ha.namenodes."+authority]); len(ids) > 0 {
		var out []string
		for _, id := range ids {
			if a := strings.TrimSpace(conf["dfs.namenode.http-address."+authority+"."+id]); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	if a := strings.TrimSpace(conf["dfs.namenode.http-address."+authority]); a != "" {
		return []string{a}
	}
	if a := strings.TrimSpace(conf["dfs.namenode.http-address"]); a != "" {
		host, port, err := net.SplitHostPort(a)
		if err == nil && (host == "0.0.0.0" || host == "") {
			h, _, _ := net.SplitHostPort(withDefaultPort(authority, DefaultNameNodePort))
			a = net.JoinHostPort(h, port)
		}
		return []string{a}
	}
	if authority == "" {
		return nil
	}
	h, _, err := net.SplitHostPort(withDefaultPort(authority, DefaultNameNodePort))
	if err != nil {
		return nil
	}
	return []string{net.JoinHostPort(h, "9870")}
}

// ParseHDFSURI splits "hdfs://authority/path" into its authority (host:port
// or nameservice, exactly as written, possibly "" for hdfs:///path) and its
// cleaned absolute path.
func ParseHDFSURI(uri string) (authority, p string, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", fmt.Errorf("hdfs URI %q: %w", uri, err)
	}
	if u.Scheme != "hdfs" {
		return "", "", fmt.Errorf("hdfs URI %q: scheme is %q, want hdfs", uri, u.Scheme)
	}
	if u.Opaque != "" {
		return "", "", fmt.Errorf("hdfs URI %q: want hdfs://authority/path", uri)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("hdfs URI %q: user info is not supported (set the HDFS user instead)", uri)
	}
	p = u.Path
	if p == "" {
		p = "/"
	}
	return u.Host, path.Clean(p), nil
}

func withDefaultPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		return hostport + ":" + port
	}
	return net.JoinHostPort(hostport, port)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
