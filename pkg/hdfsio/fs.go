// Package hdfsio is where bytes enter imageflight: it gives the planner a way
// to list and stat files and gives workers a way to read them, over HDFS
// (github.com/colinmarc/hdfs/v2) or local disk, behind one FileSystem
// interface. Paths handed to a FileSystem are absolute, slash-separated paths
// inside it ("/data/x.jpg"); URI turns them back into the origin string Spark
// writes ("file:/data/x.jpg", "hdfs://nn:8020/data/x.jpg").
package hdfsio

import (
	"context"
	"io"
	"io/fs"
)

// FileSystem is what the planner and the workers need from storage. Errors
// wrap the io/fs sentinels (fs.ErrNotExist, fs.ErrPermission) so callers can
// use errors.Is whatever the backend.
type FileSystem interface {
	// Stat describes one file or directory.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// ReadDir lists one directory, sorted by name.
	ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error)
	// Open opens a file for reading.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// URI renders name as the origin URI Spark would write for it.
	URI(name string) string
}
