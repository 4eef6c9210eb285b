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
	keys   []string
	values []string

	files []File
	subs  []*dirNode
	subAt []int // subs[j] sorts after files[:subAt[j]] and before the rest
}

// walker lists directories with a fixed pool of goroutines pulling from a
// stack of pending directories, so a tree of a million folders costs a
// million small nodes, not a million parked goroutines.
type walker struct {
	fsys       Lister
	opts       ListOptions
	keep       func(string) bool
	confine    func(string) bool // nil: links are not checked
	maxDepth   int
	maxEntries int64
	log        *slog.Logger

	entries                    atomic.Int64
	cycles, irregular, outside atomic.Int64
	firstCycle, firstIrregular atomic.Pointer[string]
	firstOutside               atomic.Pointer[string]

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*dirNode
	active  int
	err     error
	cancel  context.CancelFunc
}

func newWalker(fsys Lister, opts ListOptions) *walker {
	w := &walker{fsys: fsys, opts: opts, keep: opts.Keep, confine: opts.Confine,
		maxDepth: opts.MaxDepth, maxEntries: opts.MaxEntries, log: opts.Logger}
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
	w.cond = sync.NewCond(&w.mu)
	return w
}

// run walks the tree below top and returns the first error.
func (w *walker) run(ctx context.Context, top *dirNode) error {
	ctx, w.cancel = context.WithCancel(ctx)
	defer w.cancel()
	// Waiting workers sleep on the condition variable; wake them when the
	// caller gives up.
	stop := context.AfterFunc(ctx, func() { w.fail(ctx.Err()) })
	defer stop()
	w.pending = []*dirNode{top}
	par := w.opts.Parallelism
	if par <= 0 {
		par = 16
	}
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() { w.work(ctx) })
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *walker) work(ctx context.Context) {
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && w.active > 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil || len(w.pending) == 0 {
			w.mu.Unlock()
			return
		}
		d := w.pending[len(w.pending)-1]
		w.pending[len(w.pending)-1] = nil
		w.pending = w.pending[:len(w.pending)-1]
		w.active++
		w.mu.Unlock()

		w.list(ctx, d)

		w.mu.Lock()
		w.pending = append(w.pending, d.subs...)
		w.active--
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.cancel()
	}
	w.mu.Unlock()
	w.cond.Broadcast()
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
		w.fail(fmt.Errorf("list %s: %w", d.path, err))
		return
	}
	if n := w.entries.Add(int64(len(infos))); n > w.maxEntries {
		w.fail(fmt.Errorf("list %s: more than %d entries: %w", d.path, w.maxEntries, ErrTooManyEntries))
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
		sub, err := w.child(d, prefix+name, name, fi)
		if err != nil {
			w.fail(err)
			return
		}
		if sub != nil {
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
// would loop. Exceeding the depth limit is an error.
func (w *walker) child(d *dirNode, p, name string, fi fs.FileInfo) (*dirNode, error) {
	sub := &dirNode{path: p, depth: d.depth + 1, parent: d, keys: d.keys, values: d.values}
	sub.id, sub.hasID = fileIDOf(fi)
	if sub.hasID {
		for a := d; a != nil; a = a.parent {
			if a.hasID && a.id == sub.id {
				w.cycles.Add(1)
				w.note(&w.firstCycle, p)
				return nil, nil
			}
		}
	}
	if sub.depth > w.maxDepth {
		return nil, fmt.Errorf("list %s: more than %d directories deep: %w", p, w.maxDepth, ErrTooDeep)
	}
	if i := strings.IndexByte(name, '='); i > 0 {
		k, v := unescape(name[:i]), unescape(name[i+1:])
		// The full slice expressions make append copy, so siblings never
		// share (and overwrite) the parent's backing array.
		sub.keys = append(d.keys[:len(d.keys):len(d.keys)], k)
		sub.values = append(d.values[:len(d.values):len(d.values)], v)
	}
	return sub, nil
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
	return ListStats{Cycles: w.cycles.Load(), Irregular: w.irregular.Load(), Outside: w.outside.Load()}
}

// logSkipped logs one summary per listing, not one line per entry: a
// hostile tree can hold millions of links.
func (w *walker) logSkipped(root string) {
	s := w.stats()
	if s == (ListStats{}) {
		return
	}
	attrs := []any{"root", root, "cycles", s.Cycles, "irregular", s.Irregular, "outside_roots", s.Outside}
	for _, f := range []struct {
		key   string
		first *atomic.Pointer[string]
	}{{"first_cycle", &w.firstCycle}, {"first_irregular", &w.firstIrregular}, {"first_outside_link", &w.firstOutside}} {
		if p := f.first.Load(); p != nil {
			attrs = append(attrs, f.key, *p)
		}
	}
	w.log.Warn("listing skipped entries", attrs...)
}
