package plan

import (
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
// slash-separated Hadoop glob, see pkg/glob), sorted and without
// duplicates: braces are expanded first, then each expansion is matched
// segment by segment from its static prefix, reading only the folders its
// wildcard segments need. Wildcards never match hidden names (Hidden), as
// Spark drops hidden glob results; links resolving where confine refuses
// are skipped. A pattern matching nothing returns no paths and no error.
func ExpandGlob(ctx context.Context, fsys Lister, pattern string, confine func(string) bool) ([]string, error) {
	pats, err := glob.Expand(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pats {
		if slices.Contains(strings.Split(p, "/"), "..") {
			return nil, fmt.Errorf("%w: %q: '..' cannot be part of a glob", glob.ErrSyntax, pattern)
		}
		m, err := expandOne(ctx, fsys, p, confine)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
		if len(out) > MaxGlobMatches {
			return nil, fmt.Errorf("glob %s: more than %d matches: %w", pattern, MaxGlobMatches, ErrTooManyEntries)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// expandOne matches one brace-free pattern.
func expandOne(ctx context.Context, fsys Lister, pattern string, confine func(string) bool) ([]string, error) {
	segs := strings.Split(strings.TrimPrefix(path.Clean(pattern), "/"), "/")
	cur := []string{"/"}
	literalTail := false // cur holds paths not yet known to exist
	for i, seg := range segs {
		last := i == len(segs)-1
		if !glob.IsGlob(seg) {
			for j := range cur {
				cur[j] = path.Join(cur[j], seg)
			}
			literalTail = true
			continue
		}
		pat, err := glob.Compile(seg)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, dir := range cur {
			m, err := matchDir(ctx, fsys, dir, pat, !last, confine)
			if err != nil {
				return nil, err
			}
			next = append(next, m...)
			if len(next) > MaxGlobMatches {
				return nil, fmt.Errorf("glob %s: more than %d matches: %w", pattern, MaxGlobMatches, ErrTooManyEntries)
			}
		}
		cur, literalTail = next, false
	}
	if !literalTail {
		return cur, nil
	}
	kept := cur[:0]
	for _, p := range cur {
		switch _, err := fsys.Stat(ctx, p); {
		case err == nil:
			kept = append(kept, p)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("glob: stat %s: %w", p, err)
		}
	}
	return kept, nil
}

// matchDir lists dir and returns the paths of the entries pat matches
// (directories only when dirsOnly). A missing folder or a file in place of
// a folder matches nothing.
func matchDir(ctx context.Context, fsys Lister, dir string, pat *glob.Pattern, dirsOnly bool, confine func(string) bool) ([]string, error) {
	infos, err := fsys.ReadDir(ctx, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if fi, serr := fsys.Stat(ctx, dir); serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, fmt.Errorf("glob: list %s: %w", dir, err)
	}
	var out []string
	for _, fi := range infos {
		name := fi.Name()
		if Hidden(name) || (dirsOnly && !fi.IsDir()) || !pat.Match(name) {
			continue
		}
		if link, ok := fi.(linkEntry); ok && confine != nil {
			if real := link.RealPath(); real == "" || !confine(real) {
				continue
			}
		}
		out = append(out, path.Join(dir, name))
	}
	return out, nil
}
