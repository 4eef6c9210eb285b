//go:build !unix

package plan

import "io/fs"

// fileID is unavailable here; MaxDepth alone stops link loops.
type fileID struct{}

func fileIDOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
