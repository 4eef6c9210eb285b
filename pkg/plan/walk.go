package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// dirNode is one directory of a walk. The walk fills files and subs; the
// partition values are the parent's plus this directory's own key=value
// segment, so each directory parses one name, once.
type dirNode struct {
	path   string
	depth  int
	parent *dirNode
	id     fileID
	hasID  bool
	alias  bool // another name of this directory is walked instead
	keys   []string
	values []string

	files []File
	subs  []*dirNode
	subAt []int // subs[j] sorts after files[:subAt[j]] and before the rest
}

// walker lists directories level by level with a fixed pool of goroutines:
// a level's directories are read in parallel, then their subdirectories
// are claimed in path order, each identity once, for the next level. The
// timing of the reads therefore never decides which name of a directory
// is kept: the shallowest name wins, ties going to the smallest path.
type walker struct {
	fsys       Lister
	opts       ListOptions
	keep       func(string) bool
	confine    func(string) bool // nil: links are not checked
	reals      []string          // the roots' resolved paths, when confine defaults to them
	maxDepth   int
	maxEntries int64
	log        *slog.Logger

	entries                    atomic.Int64
	cycles, irregular, outside atomic.Int64
	aliases                    atomic.Int64
	firstCycle, firstIrregular atomic.Pointer[string]
	firstOutside, firstAlias   atomic.Pointer[string]

	// Claimed directories, by device and inode, or by path where the
	// filesystem reports no identity (HDFS, memfs). Only the claiming
	// goroutine (run's) touches them.
	seenID   map[fileID]bool
	seenPath map[string]bool

	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func newWalker(fsys Lister, opts ListOptions) *walker {
	w := &walker{fsys: fsys, opts: opts, keep: opts.Keep, confine: opts.Confine,
		maxDepth: opts.MaxDepth, maxEntries: opts.MaxEntries, log: opts.Logger,
		seenID: map[fileID]bool{}, seenPath: map[string]bool{}}
	if w.keep == nil {
		w.keep = func(string) bool { return true }
	}
	if w.maxDepth <= 0 {
		w.maxDepth = DefaultMaxDepth
	}
	if w.maxEntries <= 0 {
		w.maxEntries = DefaultMaxEntries
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

// run walks the trees below tops (all at depth 0) and returns the first
// error. Each directory identity is listed at most once across all of
// them; the other names of it are marked alias and left out of flatten.
func (w *walker) run(ctx context.Context, tops []*dirNode) error {
	ctx, w.cancel = context.WithCancel(ctx)
	defer w.cancel()
	par := w.opts.Parallelism
	if par <= 0 {
		par = 16
	}
	jobs := make(chan *dirNode)
	var level sync.WaitGroup
	var workers sync.WaitGroup
	for range par {
		workers.Go(func() {
			for d := range jobs {
				if w.failed() == nil {
					w.list(ctx, d)
				}
				level.Done()
			}
		})
	}
	defer func() {
		close(jobs)
		workers.Wait()
	}()
	cur := w.claim(append([]*dirNode(nil), tops...))
	for len(cur) > 0 && w.failed() == nil {
		level.Add(len(cur))
		for _, d := range cur {
			jobs <- d
		}
		level.Wait()
		if err := ctx.Err(); err != nil {
			w.fail(nil, err)
		}
		if w.failed() != nil {
			break
		}
		var next []*dirNode
		for _, d := range cur {
			next = append(next, d.subs...)
		}
		cur = w.claim(next)
	}
	return w.failed()
}

// claim sorts the candidate directories of one level by path and keeps
// each identity's first name, marking the rest alias. A kept directory
// deeper than the limit fails the walk.
func (w *walker) claim(cands []*dirNode) []*dirNode {
	slices.SortFunc(cands, func(a, b *dirNode) int { return strings.Compare(a.path, b.path) })
	kept := cands[:0]
	for _, d := range cands {
		seen := false
		if d.hasID {
			seen, w.seenID[d.id] = w.seenID[d.id], true
		} else {
			seen, w.seenPath[d.path] = w.seenPath[d.path], true
		}
		if seen {
			d.alias = true
			w.aliases.Add(1)
			w.note(&w.firstAlias, d.path)
			continue
		}
		if d.depth > w.maxDepth {
			w.fail(d, fmt.Errorf("list %s: more than %d directories deep: %w", d.path, w.maxDepth, ErrTooDeep))
			return nil
		}
		kept = append(kept, d)
	}
	return kept
}

// RootError is a listing failure with the input path whose tree it came
// from, so a caller listing several paths can report the right one.
type RootError struct {
	Root string
	Err  error
}

func (e *RootError) Error() string { return e.Err.Error() }
func (e *RootError) Unwrap() error { return e.Err }

// fail records the first error, attributed to the root of d (when known).
func (w *walker) fail(d *dirNode, err error) {
	if d != nil {
		for d.parent != nil {
			d = d.parent
		}
		err = &RootError{Root: d.path, Err: err}
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.cancel()
	}
	w.mu.Unlock()
}

func (w *walker) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// entry is a kept directory entry while a directory is being sorted.
type entry struct {
	name string
	size int64
	sub  *dirNode // nil for a file
}

// list reads one directory and records its files and subdirectories. It
// stays one function: every entry passes the same sequence of checks
// (hidden, limits, links and confinement, regular files, partition
// folders, sampling) and splitting it would scatter that order.
func (w *walker) list(ctx context.Context, d *dirNode) {
	infos, err := w.fsys.ReadDir(ctx, d.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // removed while we listed
		}
		w.fail(d, fmt.Errorf("list %s: %w", d.path, err))
		return
	}
	if n := w.entries.Add(int64(len(infos))); n > w.maxEntries {
		w.fail(d, fmt.Errorf("list %s: more than %d entries: %w", d.path, w.maxEntries, ErrTooManyEntries))
		return
	}
	if w.opts.Seen != nil {
		w.opts.Seen.Add(int64(len(infos)))
	}
	prefix := d.path
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var kept []entry
	pathBytes := 0
	for _, fi := range infos {
		name := fi.Name()
		if Hidden(name) {
			continue
		}
		isDir := fi.IsDir()
		if isDir && !w.opts.Recursive && !isPartitionDir(name) {
			continue
		}
		if link, ok := fi.(linkEntry); ok && w.confine != nil {
			if real := link.RealPath(); real == "" || !w.confine(real) {
				w.outside.Add(1)
				w.note(&w.firstOutside, prefix+name) // the link, never its target
				continue
			}
		}
		if !isDir && !fi.Mode().IsRegular() {
			// A FIFO blocks open(2) forever and a device reads without end.
			w.irregular.Add(1)
			w.note(&w.firstIrregular, prefix+name)
			continue
		}
		if !isDir {
			kept = append(kept, entry{name: name, size: fi.Size()})
			pathBytes += len(prefix) + len(name)
			continue
		}
		if sub := w.child(d, prefix+name, name, fi); sub != nil {
			kept = append(kept, entry{name: name, sub: sub})
		}
	}
	// Directories sort as "name/" so that concatenating the tree depth-first
	// gives full paths in byte order (see flatten).
	byKey := func(a, b entry) int { return compareKey(a.name, a.sub != nil, b.name, b.sub != nil) }
	if !slices.IsSortedFunc(kept, byKey) {
		slices.SortFunc(kept, byKey)
	}
	// One string holds every path of the directory: one allocation per
	// directory instead of one per file.
	var sb strings.Builder
	sb.Grow(pathBytes)
	for _, e := range kept {
		if e.sub == nil {
			sb.WriteString(prefix)
			sb.WriteString(e.name)
		}
	}
	all, off := sb.String(), 0
	for _, e := range kept {
		if e.sub != nil {
			d.subs = append(d.subs, e.sub)
			d.subAt = append(d.subAt, len(d.files))
			continue
		}
		p := all[off : off+len(prefix)+len(e.name)]
		off += len(p)
		if w.keep(p) {
			d.files = append(d.files, File{Path: p, Size: e.size})
		}
	}
	if len(d.files) > 0 && len(d.files) < (len(kept)-len(d.subs))/2 {
		compact(d.files) // a sparse sample should not pin every name
	}
}

// compact copies the paths of files into one string of their own.
func compact(files []File) {
	n := 0
	for _, f := range files {
		n += len(f.Path)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, f := range files {
		sb.WriteString(f.Path)
	}
	all, off := sb.String(), 0
	for i := range files {
		files[i].Path = all[off : off+len(files[i].Path)]
		off += len(files[i].Path)
	}
}

// child makes the node for subdirectory p of d, or nil when entering it
// would loop (claim checks the depth limit, for the names it keeps).
func (w *walker) child(d *dirNode, p, name string, fi fs.FileInfo) *dirNode {
	sub := &dirNode{path: p, depth: d.depth + 1, parent: d, keys: d.keys, values: d.values}
	sub.id, sub.hasID = fileIDOf(fi)
	if sub.hasID {
		for a := d; a != nil; a = a.parent {
			if a.hasID && a.id == sub.id {
				w.cycles.Add(1)
				w.note(&w.firstCycle, p)
				return nil
			}
		}
	}
	if i := strings.IndexByte(name, '='); i > 0 {
		k, v := unescape(name[:i]), unescape(name[i+1:])
		// The full slice expressions make append copy, so siblings never
		// share (and overwrite) the parent's backing array.
		sub.keys = append(d.keys[:len(d.keys):len(d.keys)], k)
		sub.values = append(d.values[:len(d.values):len(d.values)], v)
	}
	return sub
}

// unescape undoes Spark's partition path escaping, keeping s as it is when
// it is not valid escaping (as PartitionValues does).
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// compareKey orders a name, as "name/" when it is a directory. Names hold
// no '/', so comparing the keys never needs to build them.
func compareKey(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return cmp.Compare(keyByte(a, n, aDir), keyByte(b, n, bDir))
}

// keyByte is the byte of a name's key at i: past the end it is '/' for a
// directory and -1 (nothing) for a file.
func keyByte(s string, i int, dir bool) int {
	switch {
	case i < len(s):
		return int(s[i])
	case dir:
		return '/'
	}
	return -1
}

// note remembers the first path skipped for a reason, for the log.
func (w *walker) note(first *atomic.Pointer[string], p string) {
	if first.Load() == nil {
		first.CompareAndSwap(nil, &p)
	}
}

func (w *walker) stats() ListStats {
	return ListStats{Cycles: w.cycles.Load(), Aliases: w.aliases.Load(), Irregular: w.irregular.Load(), Outside: w.outside.Load()}
}

// logSkipped logs one summary per listing, not one line per entry: a
// hostile tree can hold millions of links.
func (w *walker) logSkipped(root string) {
	s := w.stats()
	if s == (ListStats{}) {
		return
	}
	attrs := []any{"root", root, "cycles", s.Cycles, "aliases", s.Aliases, "irregular", s.Irregular, "outside_roots", s.Outside}
	for _, f := range []struct {
		key   string
		first *atomic.Pointer[string]
	}{{"first_cycle", &w.firstCycle}, {"first_alias", &w.firstAlias}, {"first_irregular", &w.firstIrregular}, {"first_outside_link", &w.firstOutside}} {
		if p := f.first.Load(); p != nil {
			attrs = append(attrs, f.key, *p)
		}
	}
	w.log.Warn("listing skipped entries", attrs...)
}
