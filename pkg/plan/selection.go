package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imageflight/imageflight/pkg/glob"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/wire"
)

// The file selection of a descriptor: its paths (a list, each possibly a
// Hadoop glob expanded here against the file system), basePath, the name
// filters (pathGlobFilter, fileExtensions), partitionFilters and limit.

// Selector turns a descriptor into the files it reads, confined to the
// served roots; the coordinator makes one per
type Selector struct {
	Roots  hdfsio.Roots // descriptors outside these are refused
	Mounts *hdfsio.Mounts
	// Confine tells whether a resolved local path lies under a root
	// (hdfsio.LocalConfine of Roots).
	Confine func(realPath string) bool
	// Parallelism bounds concurrent directory listings.
	Parallelism int
	Logger      *slog.Logger
}

// readRoot is one entry of the descriptor's path list.
type readRoot struct {
	spec string          // as the client wrote it
	loc  hdfsio.Location // the path, or the glob pattern with its filesystem
	glob bool
}

// Select resolves, confines, expands and lists a request's paths and
// applies its selection keys. The listing's Dirs are those of every listed
// file (before partition filters and limit), so the schema does not depend
// on them. base is the single path, or the common folder of several.
func (sel *Selector) Select(ctx context.Context, req wire.Descriptor) (hdfsio.Location, Listing, error) {
	roots, err := sel.resolveRoots(req.PathList())
	if err != nil {
		return hdfsio.Location{}, Listing{}, err
	}
	first := roots[0].loc
	fsys, err := sel.Mounts.For(ctx, first)
	if err != nil {
		return first, Listing{}, wire.MountError(err)
	}
	var confine func(string) bool
	if first.Scheme == "file" {
		confine = sel.Confine // links leading outside every root are skipped
	}
	paths, err := expandRoots(ctx, fsys, roots, confine)
	if err != nil {
		return first, Listing{}, err
	}
	partBase, err := basePathFor(req.BasePath, first, paths)
	if err != nil {
		return first, Listing{}, err
	}
	base := first
	if len(paths) > 1 || roots[0].glob {
		base = commonFolder(first, paths)
	}
	var seen atomic.Int64
	stopProgress := sel.logProgress(base, &seen)
	opts, err := sel.listOptions(req, confine, &seen)
	if err == nil {
		opts.PartitionBase = partBase
	}
	var l Listing
	if err == nil {
		l, err = sel.listAll(ctx, fsys, first, paths, opts)
	}
	stopProgress()
	if err != nil {
		return base, l, err
	}
	if l.Files, err = FilterFiles(l, l.Columns(), planFilters(req.PartitionFilters)); err != nil {
		return base, l, &wire.DescriptorError{Key: "partitionFilters", Msg: err.Error()}
	}
	if req.Limit != nil {
		l.Files = Limit(l.Files, req.Seed, *req.Limit)
	}
	return base, l, checkFailureColumn(req, l.Columns())
}

// resolveRoots parses each path and checks that all lie in one served
// root (on one filesystem).
func (sel *Selector) resolveRoots(specs []string) ([]readRoot, error) {
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
	for _, served := range sel.Roots {
		inside := true
		for _, r := range roots {
			inside = inside && staticPrefix(r).Within(served)
		}
		if inside {
			return roots, nil
		}
	}
	for _, r := range roots {
		if !sel.Roots.Contains(staticPrefix(r)) {
			return nil, wire.Errorf(wire.KindPermission, "%s is outside the served roots (%s)", r.spec, sel.rootList())
		}
	}
	return nil, wire.Errorf(wire.KindPermission, "the paths lie in different served roots (%s): read each root separately", sel.rootList())
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
func expandRoots(ctx context.Context, fsys Lister, roots []readRoot, confine func(string) bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range roots {
		paths := []string{r.loc.Path}
		if r.glob {
			var err error
			if paths, err = ExpandGlob(ctx, fsys, r.loc.Path, ListOptions{Confine: confine}); err != nil {
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
		out = Distinct(ctx, fsys, out)
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
func (sel *Selector) listOptions(req wire.Descriptor, confine func(string) bool, seen *atomic.Int64) (ListOptions, error) {
	keepName, err := nameFilter(req.PathGlobFilter, req.FileExtensions)
	if err != nil {
		return ListOptions{}, err
	}
	return ListOptions{
		Recursive:   req.Recursive,
		Parallelism: sel.Parallelism,
		Keep: func(p string) bool {
			return keepName(path.Base(p)) && Sampled(req.Seed, p, req.SampleRatio)
		},
		Seen:    seen,
		Logger:  sel.Logger,
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

// listAll lists every path as one walk (ListRoots), so a folder
// reached through several paths or links is listed once, and reports a
// failure against the path it came from.
func (sel *Selector) listAll(ctx context.Context, fsys Lister, fs hdfsio.Location, paths []string, opts ListOptions) (Listing, error) {
	l, err := ListRoots(ctx, fsys, paths, opts)
	if err != nil {
		loc := fs
		loc.Path = paths[0]
		var re *RootError
		if errors.As(err, &re) {
			loc.Path, err = re.Root, re.Err
		}
		return Listing{}, listError(ctx, loc, err)
	}
	return l, nil
}

// planFilters converts the descriptor's filters (validated) for pkg/
func planFilters(fs []wire.PartitionFilter) []Filter {
	out := make([]Filter, len(fs))
	for i, f := range fs {
		out[i] = Filter{Column: f.Column, Op: f.Op}
		raw := f.Values
		if f.Value != nil {
			raw = []json.RawMessage{f.Value}
		}
		for _, r := range raw {
			var s string
			if json.Unmarshal(r, &s) == nil {
				out[i].Values = append(out[i].Values, Literal{Text: s})
			} else {
				out[i].Values = append(out[i].Values, Literal{Text: string(r), Number: true})
			}
		}
	}
	return out
}

// listError gives a listing failure its kind.
func listError(ctx context.Context, base hdfsio.Location, err error) error {
	switch k := wire.KindOf(err); {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return wire.Wrap(wire.AutoKind, ctx.Err(), "list "+base.String())
	case errors.Is(err, ErrTooDeep), errors.Is(err, ErrTooManyEntries):
		return wire.Wrap(wire.KindResourceExhausted, err, "list "+base.String())
	case errors.Is(err, ErrOutsideRoots):
		return wire.Errorf(wire.KindPermission, "%s resolves outside the served roots", base)
	case k == wire.KindNotFound:
		return wire.Errorf(k, "%s does not exist", base)
	case k == wire.KindPermission || k == wire.KindInvalidArgument:
		return wire.Wrap(k, err, base.String())
	default:
		return wire.Wrap(wire.KindUnavailable, err, "list "+base.String())
	}
}

// logProgress logs how many entries a long listing has seen, every few
// seconds, until the returned stop is called.
func (sel *Selector) logProgress(base hdfsio.Location, seen *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	go func() {
		start := time.Now()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sel.Logger.Info("listing", "path", base, "entries", seen.Load(), "elapsed", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

func (sel *Selector) rootList() string {
	s := make([]string, len(sel.Roots))
	for i, r := range sel.Roots {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// checkFailureColumn refuses failureReasons when a partition column would
// take the failure column's name.
func checkFailureColumn(req wire.Descriptor, cols []Column) error {
	if !req.FailureReasons {
		return nil
	}
	for _, c := range cols {
		if strings.EqualFold(c.Name, wire.FailureColumn) {
			return &wire.DescriptorError{Key: "failureReasons", Msg: `a partition column is named "failure", the column failureReasons adds: rename the folders or leave failureReasons out`}
		}
	}
	return nil
}
