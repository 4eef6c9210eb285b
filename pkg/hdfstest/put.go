package hdfstest

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// PutDir copies the local folder src into the cluster at dst (created),
// hidden files included, the way `hdfs dfs -put` would. It writes through
// the real HDFS client protocol, as HDFS's superuser (see SuperuserClient).
func (c *Cluster) PutDir(src, dst string) error {
	cl, err := c.SuperuserClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := path.Join(dst, filepath.ToSlash(rel))
		if d.IsDir() {
			return cl.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := cl.Create(target)
		if err != nil {
			return fmt.Errorf("create %s: %w", target, err)
		}
		// An empty write would leave an unfinished block behind.
		if len(data) > 0 {
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("write %s: %w", target, err)
			}
		}
		if err := CloseWriter(w); err != nil {
			return fmt.Errorf("close %s: %w", target, err)
		}
		return nil
	})
}

// SuperuserClient is a colinmarc/hdfs client acting as HDFS's superuser:
// the OS user the NameNode runs as, or on a secure cluster the NameNode's
// own principal (hdfs/localhost, from its keytab) with the DataNodes'
// current data transfer protection. The caller closes it.
func (c *Cluster) SuperuserClient() (*hdfs.Client, error) {
	opts := hdfs.ClientOptions{Addresses: []string{c.NameNode()}}
	if k := c.Kerberos(); k != nil {
		kc, err := k.Login(k.HDFSPrincipal, k.HDFSKeytab)
		if err != nil {
			return nil, err
		}
		opts.KerberosClient = kc
		opts.KerberosServicePrincipleName = k.ServicePrincipal()
		opts.DataTransferProtection = c.DataTransferProtection()
	} else {
		u, err := user.Current()
		if err != nil {
			return nil, err
		}
		opts.User = u.Username
	}
	cl, err := hdfs.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", c.NameNode(), err)
	}
	return cl, nil
}

// CloseWriter closes w, retrying while the NameNode waits for the last
// block's replicas, which a busy minicluster reports as an error.
func CloseWriter(w *hdfs.FileWriter) error {
	for i := 0; ; i++ {
		err := w.Close()
		if err == nil || !hdfs.IsErrReplicating(err) || i == 50 {
			return err
		}
		time.Sleep(time.Duration(10*(i+1)) * time.Millisecond)
	}
}
