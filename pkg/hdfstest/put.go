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
// the real HDFS client protocol.
func (c *Cluster) PutDir(src, dst string) error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	// The NameNode runs as this user, which makes it HDFS's superuser.
	cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.NameNode()}, User: u.Username})
	if err != nil {
		return fmt.Errorf("connect %s: %w", c.NameNode(), err)
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
