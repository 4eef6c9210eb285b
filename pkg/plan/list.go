package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync/atomic"
)

// Lister is what planning needs from a filesystem (hdfsio.FileSystem has it).
//
// Two optional extensions let a listing refuse symlinks that lead outside
// the served roots (hdfsio.Local has both): a Lister with a method
// RealPath(ctx, name) (string, error) resolves the listing's root, and a
// directory entry whose FileInfo has a method RealPath() string is a
// followed link resolving there ("" meaning it did not resolve).
type Lister interface {
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error)
}

type rootResolver interface {
	RealPath(ctx context.Context, name string) (string, error)
}

type linkEntry interface{ RealPath() string }

// File is one file chosen for reading.
type File struct {
	Path string // absolute path inside its filesystem
	Size int64
	// Dir indexes the Listing.Dirs entry of the file's directory, whose
	// partition values were parsed once for all its files. Files that did
	// not come from ListDirs have 0.
	Dir int32
}

// Defaults for the ListOptions limits. A tree that exceeds one fails the
// listing (ErrTooDeep, ErrTooManyEntries) instead of exhausting memory.
const (
	// DefaultMaxDepth bounds how many directories deep a listing goes below
	// its root; real image trees are a handful of levels, while a symlink
	// loop the cycle check cannot see (no device/inode) is unbounded.
	DefaultMaxDepth = 64
	// DefaultMaxEntries bounds the directory entries one listing reads
	// (files, directories and hidden entries alike): 50M entries is several
	// GiB of coordinator memory and minutes of NameNode time.
	DefaultMaxEntries = 50_000_000
)

// Errors a listing fails with; they are wrapped with the offending path.
var (
	ErrTooDeep        = errors.New("directory tree is deeper than the listing depth limit")
	ErrTooManyEntries = errors.New("directory tree has more entries than the listing limit")
	// ErrOutsideRoots is returned when the listing's root itself resolves
	// outside the roots; it wraps fs.ErrPermission. It never names the
	// outside path.
	ErrOutsideRoots = fmt.Errorf("resolves outside the served roots: %w", fs.ErrPermission)
)

// ListOptions shape a listing.
type ListOptions struct {
	Recursive bool
	// Keep, when set, decides per file whether it is kept (sampling); it
	// runs during the walk so unsampled files are never held.
	Keep func(path string) bool
	// Parallelism bounds concurrent ReadDir calls.
	Parallelism int
	// Seen, when set, counts directory entries as they are listed (kept or
	// not), so a caller can report progress on a long walk.
	Seen *atomic.Int64

	// MaxDepth and MaxEntries cap the walk (0 means DefaultMaxDepth,
	// DefaultMaxEntries).
	MaxDepth   int
	MaxEntries int64
	// Confine reports whether a resolved path is inside the served roots
	// (hdfsio.LocalConfine builds it). Symlinked files and directories that
	// resolve elsewhere are skipped and counted, never listed; a root that
	// resolves elsewhere fails with ErrOutsideRoots. Nil confines links to
	// the listing's own resolved root, which is safe but also drops links to
	// sibling trees inside the roots. Only filesystems with links
	// (see Lister) are affected.
	Confine func(realPath string) bool
	// PartitionBase, when set, is where partition discovery starts
	// (Spark's basePath): the key=value folders between it and the root
	// give every listed file partition values too. It must be the root or
	// one of its ancestors.
	PartitionBase string
	// Logger receives a summary of skipped entries (default slog.Default()).
	// Paths outside the roots are never logged, only the links' own names.
	Logger *slog.Logger
}

// ListStats counts entries a listing skipped for safety.
type ListStats struct {
	Cycles    int64 // directories not entered because they lead back to one of their ancestors
	Aliases   int64 // directories not entered because another name of them is walked
	Irregular int64 // entries that are neither regular files nor directories (FIFOs, devices, sockets)
	Outside   int64 // symlinks resolving outside the roots, or not resolving at all
}

// Listing is a listing together with its directories' partition values.
type Listing struct {
	Files []File         // sorted by path; File.Dir indexes Dirs
	Dirs  []PartitionDir // directories holding at least one listed file, in order of their first file
	// Skipped counts what the walk left out for safety.
	Skipped ListStats
}

// Hidden reports whether a directory entry is skipped the way Hadoop and
// Spark skip it: dot files, "_" files that are not key=value partition
// directories (e.g. _SUCCESS, _temporary) and in-flight "._COPYING_" copies.
func Hidden(name string) bool {
	return strings.HasPrefix(name, ".") ||
		(strings.HasPrefix(name, "_") && !strings.Contains(name, "=")) ||
		strings.HasSuffix(name, "._COPYING_")
}

// isPartitionDir reports whether a directory name is a key=value partition.
func isPartitionDir(name string) bool {
	i := strings.IndexByte(name, '=')
	return i > 0
}

// List returns the files under root (or root itself if it is a file), sorted
// by path. Without Recursive it reads the files directly under root plus
// those under key=value partition directories, as Spark's file index does;
// with Recursive it reads every file at any depth. Only regular files are
// listed. A missing root is an error wrapping fs.ErrNotExist. It is
// ListDirs without the directory table.
func List(ctx context.Context, fsys Lister, root string, opts ListOptions) ([]File, error) {
	l, err := ListDirs(ctx, fsys, root, opts)
	return l.Files, err
}

// ListDirs lists like List and also returns, for every directory holding a
// listed file, its partition values, parsed once per directory during the
// walk; each File's Dir indexes that table. It is ListRoots of one root.
func ListDirs(ctx context.Context, fsys Lister, root string, opts ListOptions) (Listing, error) {
	l, err := ListRoots(ctx, fsys, []string{root}, opts)
	var re *RootError
	if errors.As(err, &re) {
		err = re.Err // one root: the error names it already
	}
	return l, err
}

// ListRoots lists several roots as one walk and merges them (see Merge).
// A failure is a *RootError naming the root it came from.
//
// The walk never loops and lists every directory once: a directory that
// is (by device and inode) one of its own ancestors — a symlink or
// bind-mount loop — is skipped and counted as a cycle, and a directory
// reached by several names (links to a sibling, a root and a link to one
// of its folders, two roots naming one folder) is walked under one name
// only, the others counted as aliases. The name kept is the shallowest
// below its root, ties going to the smallest path in byte order, so every
// run keeps the same names (and the partition values they spell) whatever
// the timing of the parallel reads. Where the filesystem reports no
// identity (HDFS, memfs) a directory's path is its identity. Files are
// told apart by path only: a file symlink or hard link beside its target
// is listed under both names. MaxDepth and MaxEntries bound whatever the
// checks cannot see.
func ListRoots(ctx context.Context, fsys Lister, roots []string, opts ListOptions) (Listing, error) {
	w := newWalker(fsys, opts)
	var ls []Listing
	var tops []*dirNode
	for _, root := range roots {
		l, top, err := w.prepare(ctx, root)
		if err != nil {
			return Listing{}, &RootError{Root: root, Err: err}
		}
		if top != nil {
			tops = append(tops, top)
		} else {
			ls = append(ls, l)
		}
	}
	if len(tops) > 0 {
		if err := w.run(ctx, tops); err != nil {
			return Listing{}, err
		}
	}
	for _, top := range tops {
		if !top.alias {
			ls = append(ls, flatten(top))
		}
	}
	l := Merge(ls)
	l.Skipped = w.stats()
	if len(tops) > 0 {
		w.logSkipped(tops[0].path)
	} else if len(roots) > 0 {
		w.logSkipped(roots[0])
	}
	return l, nil
}

// prepare stats and confines one root: a folder becomes a node to walk, a
// file its one-file listing.
func (w *walker) prepare(ctx context.Context, root string) (Listing, *dirNode, error) {
	fi, err := w.fsys.Stat(ctx, root)
	if err != nil {
		return Listing{}, nil, err
	}
	if r, ok := w.fsys.(rootResolver); ok {
		real, err := r.RealPath(ctx, root)
		if err != nil {
			return Listing{}, nil, fmt.Errorf("list %s: %w", root, err)
		}
		if w.opts.Confine == nil {
			// Links stay inside the roots' own resolved folders.
			w.reals = append(w.reals, real)
			w.confine = func(p string) bool {
				return slices.ContainsFunc(w.reals, func(r string) bool { return within(p, r) })
			}
		} else if !w.confine(real) {
			return Listing{}, nil, fmt.Errorf("list %s: %w", root, ErrOutsideRoots)
		}
	}
	opts := w.opts
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			w.irregular.Add(1)
			w.note(&w.firstIrregular, root)
			return Listing{}, nil, nil
		}
		if !w.keep(root) {
			return Listing{}, nil, nil
		}
		dir := PartitionDir{Path: path.Dir(root)}
		if opts.PartitionBase != "" {
			dir.Keys, dir.Values = PartitionValues(opts.PartitionBase, root)
		}
		return Listing{Files: []File{{Path: root, Size: fi.Size()}}, Dirs: []PartitionDir{dir}}, nil, nil
	}
	top := &dirNode{path: path.Clean(root)}
	if opts.PartitionBase != "" {
		top.keys, top.values = PartitionValues(opts.PartitionBase, top.path+"/_")
	}
	top.id, top.hasID = fileIDOf(fi)
	return Listing{}, top, nil
}

// within reports whether p is dir or below it (both clean, slash-separated).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// flatten emits the walked tree in path order. Each directory's entries
// were sorted by name with directories keyed as "name/", so concatenating
// them depth-first is exactly the byte order of the full paths: no global
// sort of millions of strings.
func flatten(top *dirNode) Listing {
	total := 0
	var count func(d *dirNode)
	count = func(d *dirNode) {
		total += len(d.files)
		for _, s := range d.subs {
			if !s.alias {
				count(s)
			}
		}
	}
	count(top)
	l := Listing{Files: make([]File, 0, total)}
	var emit func(d *dirNode)
	emit = func(d *dirNode) {
		idx := int32(-1)
		add := func(files []File) {
			if len(files) == 0 {
				return
			}
			if idx < 0 {
				idx = int32(len(l.Dirs))
				l.Dirs = append(l.Dirs, PartitionDir{Path: d.path, Keys: d.keys, Values: d.values})
			}
			for _, f := range files {
				f.Dir = idx
				l.Files = append(l.Files, f)
			}
		}
		prev := 0
		for j, s := range d.subs {
			add(d.files[prev:d.subAt[j]])
			prev = d.subAt[j]
			if !s.alias {
				emit(s)
			}
		}
		add(d.files[prev:])
		d.files, d.subs, d.subAt = nil, nil, nil // let the GC take them while we copy the rest
	}
	emit(top)
	return l
}
