//go:build unix

package plan

import (
	"io/fs"
	"syscall"
)

// fileID names a directory independently of the path it was reached by, so
// the walk can tell that a symlink (or bind mount) leads back to an ancestor.
type fileID struct{ dev, ino uint64 }

// fileIDOf returns the device and inode behind fi when the filesystem
// reports them (local disk does; HDFS, which has no followed links, does not).
func fileIDOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st == nil {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true // Dev and Ino are narrower on some platforms
}
