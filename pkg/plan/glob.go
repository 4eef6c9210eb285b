package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/imageflight/imageflight/pkg/glob"
)

// MaxGlobMatches bounds the paths one glob may expand to.
const MaxGlobMatches = 1_000_000

// ExpandGlob returns the paths of fsys matching pattern (an absolute,
// slash-separated Hadoop glob, see pkg/glob), sorted: braces are expanded
// first, then each expansion is matched segment by segment from its static
// prefix, reading only the folders its wildcard segments need. Wildcards
// never match hidden names (Hidden), as Spark drops hidden glob results;
// links resolving where opts.Confine refuses are skipped. A pattern
// matching nothing returns no paths and no error.
//
// Expansion is bounded like a walk (opts.MaxDepth, opts.MaxEntries; the
// other options are not used) and follows links as the walk does: a folder
// that is (by device and inode) one of its own ancestors is not entered,
// and a file or folder reached by several names is matched once, by the
// name that sorts first where the names meet. Without identities (HDFS,
// which has no followed links) a path is its own identity.
func ExpandGlob(ctx context.Context, fsys Lister, pattern string, opts ListOptions) ([]string, error) {
	pats, err := glob.Expand(pattern)
	if err != nil {
		return nil, err
	}
	x := &expander{fsys: fsys, pattern: pattern, confine: opts.Confine, maxDepth: opts.MaxDepth,
		maxEntries: opts.MaxEntries, ids: true}
	if x.maxDepth <= 0 {
		x.maxDepth = DefaultMaxDepth
	}
	if x.maxEntries <= 0 {
		x.maxEntries = DefaultMaxEntries
	}
	var all []*globNode
	for _, p := range pats {
		if slices.Contains(strings.Split(p, "/"), "..") {
			return nil, fmt.Errorf("%w: %q: '..' cannot be part of a glob", glob.ErrSyntax, pattern)
		}
		m, err := x.expandOne(ctx, p)
		if err != nil {
			return nil, err
		}
		all = append(all, m...)
		if len(all) > MaxGlobMatches {
			return nil, x.tooMany()
		}
	}
	all = x.distinct(all)
	out := make([]string, len(all))
	for i, n := range all {
		out[i] = n.path
	}
	return out, nil
}

// globNode is one path a glob reached, with the identity of the file or
// folder it names and the node it was reached from.
type globNode struct {
	path   string
	parent *globNode
	id     fileID
	hasID  bool
	known  bool // exists (it came from a listing or a stat)
}

// expander matches one glob; its counters span every brace expansion.
type expander struct {
	fsys       Lister
	pattern    string
	confine    func(string) bool
	maxDepth   int
	maxEntries int64
	entries    int64
	ids        bool // the filesystem reports identities; false after the first entry without one
}

func (x *expander) tooMany() error {
	return fmt.Errorf("glob %s: more than %d matches: %w", x.pattern, MaxGlobMatches, ErrTooManyEntries)
}

// expandOne matches one brace-free pattern.
func (x *expander) expandOne(ctx context.Context, pattern string) ([]*globNode, error) {
	segs := strings.Split(strings.TrimPrefix(path.Clean(pattern), "/"), "/")
	if first := slices.IndexFunc(segs, glob.IsGlob); first >= 0 && len(segs)-first > x.maxDepth {
		return nil, fmt.Errorf("glob %s: more than %d folders deep below its static prefix: %w", x.pattern, x.maxDepth, ErrTooDeep)
	}
	cur := []*globNode{{path: "/"}}
	for i, seg := range segs {
		last := i == len(segs)-1
		if !glob.IsGlob(seg) {
			for j, n := range cur {
				cur[j] = &globNode{path: path.Join(n.path, seg), parent: n}
			}
			continue
		}
		pat, err := glob.Compile(seg)
		if err != nil {
			return nil, err
		}
		var next []*globNode
		for _, n := range cur {
			m, err := x.matchDir(ctx, n, pat, !last)
			if err != nil {
				return nil, err
			}
			next = append(next, m...)
			if len(next) > MaxGlobMatches {
				return nil, x.tooMany()
			}
		}
		cur = x.distinct(next)
	}
	kept := cur[:0]
	for _, n := range cur {
		ok, err := x.identify(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, n)
		}
	}
	return x.distinct(kept), nil
}

// identify stats a node reached by literal segments: whether it exists,
// and its identity. A node from a listing is known already.
func (x *expander) identify(ctx context.Context, n *globNode) (bool, error) {
	if n.known {
		return true, nil
	}
	fi, err := x.fsys.Stat(ctx, n.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("glob %s: stat %s: %w", x.pattern, n.path, err)
	}
	n.known = true
	x.setID(n, fi)
	return !x.cycle(n), nil
}

// setID records fi's identity on n, or learns that the filesystem has none.
func (x *expander) setID(n *globNode, fi fs.FileInfo) {
	if !x.ids {
		return
	}
	if n.id, n.hasID = fileIDOf(fi); !n.hasID {
		x.ids = false
	}
}

// cycle reports whether n is one of its own ancestors.
func (x *expander) cycle(n *globNode) bool {
	if !n.hasID {
		return false
	}
	for a := n.parent; a != nil; a = a.parent {
		if a.hasID && a.id == n.id {
			return true
		}
	}
	return false
}

// distinct sorts nodes by path and keeps the first of each path and of
// each identity, so every file or folder is matched (and listed) once.
func (x *expander) distinct(nodes []*globNode) []*globNode {
	slices.SortStableFunc(nodes, func(a, b *globNode) int { return cmp.Compare(a.path, b.path) })
	seen := map[fileID]bool{}
	out := nodes[:0]
	for i, n := range nodes {
		if i > 0 && nodes[i-1].path == n.path {
			continue
		}
		if x.ids && n.hasID {
			if seen[n.id] {
				continue
			}
			seen[n.id] = true
		}
		out = append(out, n)
	}
	return out
}

// matchDir lists the folder n names and returns the entries pat matches
// (folders only when dirsOnly), leaving out folders that are their own
// ancestors. A missing folder or a file in place of a folder matches
// nothing.
func (x *expander) matchDir(ctx context.Context, n *globNode, pat *glob.Pattern, dirsOnly bool) ([]*globNode, error) {
	if x.ids && !n.known {
		// Reached by literal segments: its identity is needed to tell
		// whether a link below leads back to it.
		if ok, err := x.identify(ctx, n); err != nil || !ok {
			return nil, err
		}
	}
	infos, err := x.fsys.ReadDir(ctx, n.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if fi, serr := x.fsys.Stat(ctx, n.path); serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, fmt.Errorf("glob %s: list %s: %w", x.pattern, n.path, err)
	}
	if x.entries += int64(len(infos)); x.entries > x.maxEntries {
		return nil, fmt.Errorf("glob %s: more than %d entries listed: %w", x.pattern, x.maxEntries, ErrTooManyEntries)
	}
	var out []*globNode
	for _, fi := range infos {
		name := fi.Name()
		if Hidden(name) || (dirsOnly && !fi.IsDir()) || !pat.Match(name) {
			continue
		}
		if link, ok := fi.(linkEntry); ok && x.confine != nil {
			if real := link.RealPath(); real == "" || !x.confine(real) {
				continue
			}
		}
		m := &globNode{path: path.Join(n.path, name), parent: n, known: true}
		x.setID(m, fi)
		if fi.IsDir() && x.cycle(m) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Distinct drops the paths naming the same file or folder (by device and
// inode) as an earlier one, keeping the order, so that roots reached by
// several names (two links to one folder) are listed once. It stats each
// path; on a filesystem without identities (HDFS, which has no followed
// links) it stops after the first and returns paths as they are. A path
// that cannot be stat'ed is kept: listing it reports why.
func Distinct(ctx context.Context, fsys Lister, paths []string) []string {
	if len(paths) < 2 {
		return paths
	}
	seen := map[fileID]bool{}
	out := make([]string, 0, len(paths))
	for i, p := range paths {
		fi, err := fsys.Stat(ctx, p)
		if err != nil {
			out = append(out, p)
			continue
		}
		id, ok := fileIDOf(fi)
		if !ok && i == 0 {
			return paths
		}
		if ok && seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, p)
	}
	return out
}
