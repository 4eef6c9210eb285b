package flight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/imageflight/imageflight/pkg/glob"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/plan"
	"github.com/imageflight/imageflight/pkg/wire"
)

// The file selection of a descriptor: its paths (a list, each possibly a
// Hadoop glob expanded here against the file system), basePath, the name
// filters (pathGlobFilter, fileExtensions), partitionFilters and limit.

// readRoot is one entry of the descriptor's path list.
type readRoot struct {
	spec string          // as the client wrote it
	loc  hdfsio.Location // the path, or the glob pattern with its filesystem
	glob bool
}

// selectFiles resolves, confines, expands and lists a request's paths and
// applies its selection keys. The listing's Dirs are those of every listed
// file (before partition filters and limit), so the schema does not depend
// on them. base is the single path, or the common folder of several.
func (c *Coordinator) selectFiles(ctx context.Context, req wire.Descriptor) (hdfsio.Location, plan.Listing, error) {
	roots, err := c.resolveRoots(req.PathList())
	if err != nil {
		return hdfsio.Location{}, plan.Listing{}, err
	}
	first := roots[0].loc
	fsys, err := c.deps.Mounts.For(ctx, first)
	if err != nil {
		return first, plan.Listing{}, mountError(err)
	}
	var confine func(string) bool
	if first.Scheme == "file" {
		confine = c.confine // links leading outside every root are skipped
	}
	paths, err := expandRoots(ctx, fsys, roots, confine)
	if err != nil {
		return first, plan.Listing{}, err
	}
	partBase, err := basePathFor(req.BasePath, first, paths)
	if err != nil {
		return first, plan.Listing{}, err
	}
	base := first
	if len(paths) > 1 || roots[0].glob {
		base = commonFolder(first, paths)
	}
	var seen atomic.Int64
	stopProgress := c.logProgress(base, &seen)
	opts, err := c.listOptions(req, confine, &seen)
	if err == nil {
		opts.PartitionBase = partBase
	}
	var l plan.Listing
	if err == nil {
		l, err = c.listAll(ctx, fsys, first, paths, opts)
	}
	stopProgress()
	if err != nil {
		return base, l, err
	}
	if l.Files, err = plan.FilterFiles(l, l.Columns(), planFilters(req.PartitionFilters)); err != nil {
		return base, l, &wire.DescriptorError{Key: "partitionFilters", Msg: err.Error()}
	}
	if req.Limit != nil {
		l.Files = plan.Limit(l.Files, req.Seed, *req.Limit)
	}
	return base, l, checkFailureColumn(req, l.Columns())
}

// resolveRoots parses each path and checks that all lie in one served
// root (on one filesystem).
func (c *Coordinator) resolveRoots(specs []string) ([]readRoot, error) {
	roots := make([]readRoot, len(specs))
	for i, s := range specs {
		loc, isGlob, err := parseRoot(s)
		if err != nil {
			return nil, &wire.DescriptorError{Key: "path", Msg: err.Error()}
		}
		roots[i] = readRoot{spec: s, loc: loc, glob: isGlob}
	}
	for _, r := range roots[1:] {
		if r.loc.Scheme != roots[0].loc.Scheme || r.loc.Authority != roots[0].loc.Authority {
			return nil, &wire.DescriptorError{Key: "path", Msg: fmt.Sprintf("all paths must be on one filesystem: %s and %s are not", roots[0].loc, r.loc)}
		}
	}
	for _, served := range c.deps.Roots {
		inside := true
		for _, r := range roots {
			inside = inside && staticPrefix(r).Within(served)
		}
		if inside {
			return roots, nil
		}
	}
	for _, r := range roots {
		if !c.deps.Roots.Contains(staticPrefix(r)) {
			return nil, wire.Errorf(wire.KindPermission, "%s is outside the served roots (%s)", r.spec, c.rootList())
		}
	}
	return nil, wire.Errorf(wire.KindPermission, "the paths lie in different served roots (%s): read each root separately", c.rootList())
}

// parseRoot parses a path as hdfsio.ParseLocation does; a glob keeps its
// metacharacters in Path (its scheme and authority are split off by hand:
// url.Parse would take a '?' for a query).
func parseRoot(s string) (hdfsio.Location, bool, error) {
	if !glob.IsGlob(s) {
		loc, err := hdfsio.ParseLocation(s)
		return loc, false, err
	}
	var loc hdfsio.Location
	switch {
	case strings.HasPrefix(s, "hdfs://"):
		rest := s[len("hdfs://"):]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			rest += "/"
			i = len(rest) - 1
		}
		if rest[:i] == "" || glob.IsGlob(rest[:i]) {
			return loc, true, fmt.Errorf("path %q: hdfs URI needs a namenode or nameservice without glob characters", s)
		}
		loc = hdfsio.Location{Scheme: "hdfs", Authority: rest[:i], Path: path.Clean(rest[i:])}
	case strings.HasPrefix(s, "file:"):
		rest := s[len("file:"):]
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
			host, p, _ := strings.Cut(rest, "/")
			if host != "" && host != "localhost" {
				return loc, true, fmt.Errorf("path %q: file URIs cannot name a host", s)
			}
			rest = "/" + p
		}
		if !strings.HasPrefix(rest, "/") {
			return loc, true, fmt.Errorf("path %q: file URI must be absolute", s)
		}
		loc = hdfsio.Location{Scheme: "file", Path: path.Clean(rest)}
	case strings.Contains(s, ":") && !filepath.IsAbs(s):
		scheme, _, _ := strings.Cut(s, ":")
		return loc, true, fmt.Errorf("path %q: unsupported scheme %q (use a local path, file: or hdfs://)", s, scheme)
	default:
		abs, err := filepath.Abs(s)
		if err != nil {
			return loc, true, fmt.Errorf("path %q: %w", s, err)
		}
		loc = hdfsio.Location{Scheme: "file", Path: path.Clean(filepath.ToSlash(abs))}
	}
	return loc, true, nil
}

// staticPrefix is the folder a glob is matched from (its segments before
// the first one holding a metacharacter), or the path itself.
func staticPrefix(r readRoot) hdfsio.Location {
	if !r.glob {
		return r.loc
	}
	loc := r.loc
	i := strings.IndexAny(loc.Path, glob.Meta)
	loc.Path = path.Dir(loc.Path[:i] + "x")
	return loc
}

// expandRoots turns the roots into the paths to list: globs expanded
// (NotFound when one matches nothing), duplicates dropped (by path, and
// by device and inode where the filesystem has them), in the order given.
func expandRoots(ctx context.Context, fsys plan.Lister, roots []readRoot, confine func(string) bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range roots {
		paths := []string{r.loc.Path}
		if r.glob {
			var err error
			if paths, err = plan.ExpandGlob(ctx, fsys, r.loc.Path, plan.ListOptions{Confine: confine}); err != nil {
				if errors.Is(err, glob.ErrSyntax) {
					return nil, &wire.DescriptorError{Key: "path", Msg: err.Error()}
				}
				return nil, listError(ctx, staticPrefix(r), err)
			}
			if len(paths) == 0 {
				return nil, wire.Errorf(wire.KindNotFound, "%s matches no files or folders", r.spec)
			}
		}
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(roots) > 1 {
		// Two names of one folder (links) would list its files twice; a
		// single glob's matches are distinct already.
		out = plan.Distinct(ctx, fsys, out)
	}
	return out, nil
}

// basePathFor parses basePath (on the paths' filesystem) and checks that
// every path lies under it; "" without one.
func basePathFor(spec string, fs hdfsio.Location, paths []string) (string, error) {
	if spec == "" {
		return "", nil
	}
	bp, err := hdfsio.ParseLocation(spec)
	if err != nil {
		return "", &wire.DescriptorError{Key: "basePath", Msg: err.Error()}
	}
	if bp.Scheme != fs.Scheme || bp.Authority != fs.Authority {
		return "", &wire.DescriptorError{Key: "basePath", Msg: fmt.Sprintf("%s is not on the filesystem of the paths (%s)", bp, fs)}
	}
	for _, p := range paths {
		loc := fs
		loc.Path = p
		if !loc.Within(bp) {
			return "", &wire.DescriptorError{Key: "basePath", Msg: fmt.Sprintf("%s is not under basePath %s: every path must be", loc, bp)}
		}
	}
	return bp.Path, nil
}

// commonFolder is the deepest folder holding every path (a single path
// is its own).
func commonFolder(fs hdfsio.Location, paths []string) hdfsio.Location {
	common := paths[0]
	for _, p := range paths[1:] {
		for common != "/" && p != common && !strings.HasPrefix(p, common+"/") {
			common = path.Dir(common)
		}
	}
	fs.Path = common
	return fs
}

// listOptions are the walk's options: the name filters and the sample
// decide per file while listing.
func (c *Coordinator) listOptions(req wire.Descriptor, confine func(string) bool, seen *atomic.Int64) (plan.ListOptions, error) {
	keepName, err := nameFilter(req.PathGlobFilter, req.FileExtensions)
	if err != nil {
		return plan.ListOptions{}, err
	}
	return plan.ListOptions{
		Recursive:   req.Recursive,
		Parallelism: c.cfg.ListParallelism,
		Keep: func(p string) bool {
			return keepName(path.Base(p)) && plan.Sampled(req.Seed, p, req.SampleRatio)
		},
		Seen:    seen,
		Logger:  c.log,
		Confine: confine,
	}, nil
}

// nameFilter is pathGlobFilter and fileExtensions as one test on a name.
func nameFilter(pattern string, exts []string) (func(string) bool, error) {
	var pat *glob.Pattern
	if pattern != "" {
		var err error
		if pat, err = glob.Compile(pattern); err != nil {
			return nil, &wire.DescriptorError{Key: "pathGlobFilter", Msg: err.Error()}
		}
	}
	suffixes := make([]string, len(exts))
	for i, e := range exts {
		suffixes[i] = "." + strings.ToLower(strings.TrimPrefix(e, "."))
	}
	return func(name string) bool {
		if pat != nil && !pat.Match(name) {
			return false
		}
		if len(suffixes) == 0 {
			return true
		}
		lower := strings.ToLower(name)
		for _, s := range suffixes {
			if strings.HasSuffix(lower, s) {
				return true
			}
		}
		return false
	}, nil
}

// listAll lists every path as one walk (plan.ListRoots), so a folder
// reached through several paths or links is listed once, and reports a
// failure against the path it came from.
func (c *Coordinator) listAll(ctx context.Context, fsys plan.Lister, fs hdfsio.Location, paths []string, opts plan.ListOptions) (plan.Listing, error) {
	l, err := plan.ListRoots(ctx, fsys, paths, opts)
	if err != nil {
		loc := fs
		loc.Path = paths[0]
		var re *plan.RootError
		if errors.As(err, &re) {
			loc.Path, err = re.Root, re.Err
		}
		return plan.Listing{}, listError(ctx, loc, err)
	}
	return l, nil
}

// planFilters converts the descriptor's filters (validated) for pkg/plan.
func planFilters(fs []wire.PartitionFilter) []plan.Filter {
	out := make([]plan.Filter, len(fs))
	for i, f := range fs {
		out[i] = plan.Filter{Column: f.Column, Op: f.Op}
		raw := f.Values
		if f.Value != nil {
			raw = []json.RawMessage{f.Value}
		}
		for _, r := range raw {
			var s string
			if json.Unmarshal(r, &s) == nil {
				out[i].Values = append(out[i].Values, plan.Literal{Text: s})
			} else {
				out[i].Values = append(out[i].Values, plan.Literal{Text: string(r), Number: true})
			}
		}
	}
	return out
}
