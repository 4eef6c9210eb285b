package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/gif" // header formats Browse recognises
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/plan"
)

// ScanConfig bounds what one look at a folder costs, so that a page answers
// quickly on a folder of any size: the listing stops after MaxEntries, the
// headers of a seeded sample of HeaderSample files are read (HeaderBytes
// each), and ThumbsPerClass files of at most ThumbClasses classes are
// thumbnailed.
type ScanConfig struct {
	MaxEntries     int
	MaxDepth       int
	HeaderSample   int
	HeaderBytes    int
	Parallelism    int
	ThumbClasses   int
	ThumbsPerClass int
	ThumbSize      int
	Seed           int64
}

// DefaultScanConfig returns the bounds of a page.
func DefaultScanConfig() ScanConfig {
	return ScanConfig{
		// 20k entries list in well under a second locally and in a few
		// NameNode round trips per folder; counts beyond are extrapolated
		// by nobody: the page says the listing stopped.
		MaxEntries: 20000,
		// Label folders are shallow; deeper trees are still counted up to
		// MaxEntries.
		MaxDepth: 16,
		// 200 headers give histogram shares within a few percent.
		HeaderSample: 200,
		// Headers (JPEG markers with EXIF, PNG IHDR) fit in 64 KiB; a file
		// whose header does not is read again up to 1 MiB.
		HeaderBytes: 64 << 10,
		// Eight reads in flight hide storage latency.
		Parallelism: 8,
		// A 12×8 grid fits a screen.
		ThumbClasses:   12,
		ThumbsPerClass: 8,
		// 96 pixels show what an image is; the workers shrink in the DCT.
		ThumbSize: 96,
	}
}

// Validate reports the first bound out of range.
func (c ScanConfig) Validate() error {
	for name, v := range map[string]int{"max entries": c.MaxEntries, "max depth": c.MaxDepth, "header sample": c.HeaderSample,
		"header bytes": c.HeaderBytes, "parallelism": c.Parallelism, "thumb classes": c.ThumbClasses, "thumbs per class": c.ThumbsPerClass, "thumb size": c.ThumbSize} {
		if v <= 0 {
			return fmt.Errorf("console: %s must be positive, got %d", name, v)
		}
	}
	return nil
}

// Summary is what a scan of one folder found.
type Summary struct {
	Base      hdfsio.Location
	Folders   []Folder // immediate sub-folders, by name
	Files     int      // files listed (hidden ones skipped, as planning does)
	Bytes     int64
	Truncated bool // the listing stopped at MaxEntries or MaxDepth
	// Partitions counts files per value of each key=value partition column.
	Partitions []Partition
	// ClassBy names what groups files into classes for the thumbnail
	// sample: a partition column, "folder" or "" (one class).
	ClassBy string
	Classes []Bar
	Formats []Bar // by extension
	Sizes   []Bar // file size histogram, all listed files
	// Headers is how many headers were read (a seeded sample); Dims is
	// their larger side's histogram, HeaderFormats what they really are.
	Headers       int
	Dims          []Bar
	HeaderFormats []Bar
	Broken        []Broken
	files         []scanned
}

// Folder is one sub-folder and the files the listing found beneath it.
type Folder struct {
	Name  string
	URI   string
	Files int
	// Listing is "" when every file beneath was counted, else "partly
	// listed" or "not listed" (the listing stopped first).
	Listing string
}

// Unlisted is how many sub-folders the listing did not finish.
func (s *Summary) Unlisted() int {
	n := 0
	for _, f := range s.Folders {
		if f.Listing != "" {
			n++
		}
	}
	return n
}

// Partition is one partition column's label balance.
type Partition struct {
	Column string
	Values []Bar
}

// Bar is one bar of a chart: a label and a count (Pct of the largest).
type Bar struct {
	Label string
	N     int
	Pct   int
}

// Broken is a file that failed, and why.
type Broken struct {
	Name, URI, Reason string
}

// AddBroken lists a failed file, or adds reason to its entry.
func (s *Summary) AddBroken(name, uri, reason string) {
	for i := range s.Broken {
		if s.Broken[i].URI == uri {
			s.Broken[i].Reason += "; " + reason
			return
		}
	}
	s.Broken = append(s.Broken, Broken{Name: name, URI: uri, Reason: reason})
}

type scanned struct {
	rel   string // slash path below Base
	uri   string
	size  int64
	class string
	hash  uint64
}

// Scan lists base (bounded), then reads a seeded sample of headers.
// confine, when set, refuses local entries that resolve outside the roots.
func Scan(ctx context.Context, fsys hdfsio.FileSystem, base hdfsio.Location, cfg ScanConfig, confine func(realPath string) bool) (*Summary, error) {
	s := &Summary{Base: base}
	if err := s.walk(ctx, fsys, cfg, confine); err != nil {
		return nil, err
	}
	s.tally(cfg)
	s.readHeaders(ctx, fsys, cfg)
	return s, nil
}

type realPather interface {
	RealPath(ctx context.Context, name string) (string, error)
}

// walk lists breadth first, skipping hidden entries (. and _ prefixes, as
// Hadoop does), links that resolve outside the roots, and stopping at
// MaxEntries entries or MaxDepth levels.
func (s *Summary) walk(ctx context.Context, fsys hdfsio.FileSystem, cfg ScanConfig, confine func(string) bool) error {
	if rp, ok := fsys.(realPather); ok && confine != nil {
		real, err := rp.RealPath(ctx, s.Base.Path)
		if err != nil {
			return err
		}
		if !confine(real) {
			return fmt.Errorf("%s resolves outside the served roots: %w", s.Base, fs.ErrPermission)
		}
	}
	queue := []pendingDir{{"", 0}}
	entries := 0
	folderIdx := map[string]int{}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		infos, err := fsys.ReadDir(ctx, path.Join(s.Base.Path, d.rel))
		if err != nil {
			if d.rel == "" {
				return err
			}
			s.AddBroken(d.rel+"/", fsys.URI(path.Join(s.Base.Path, d.rel)), err.Error())
			continue
		}
		for _, fi := range infos {
			name := fi.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				continue
			}
			if entries >= cfg.MaxEntries {
				s.Truncated = true
				s.markUnlisted(folderIdx, append([]string{d.rel}, dirRels(queue)...))
				return nil
			}
			entries++
			if l, ok := fi.(interface{ RealPath() string }); ok && confine != nil && !confine(l.RealPath()) {
				continue
			}
			rel := path.Join(d.rel, name)
			if fi.IsDir() {
				if d.rel == "" {
					folderIdx[name] = len(s.Folders)
					s.Folders = append(s.Folders, Folder{Name: name, URI: fsys.URI(path.Join(s.Base.Path, rel))})
				}
				if d.depth+1 >= cfg.MaxDepth {
					s.Truncated = true
					s.markUnlisted(folderIdx, []string{rel})
					continue
				}
				queue = append(queue, pendingDir{rel, d.depth + 1})
				continue
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			f := scanned{rel: rel, uri: fsys.URI(path.Join(s.Base.Path, rel)), size: fi.Size(), hash: sampleHash(cfg.Seed, rel)}
			s.files = append(s.files, f)
			s.Files++
			s.Bytes += f.size
			if top, _, ok := strings.Cut(rel, "/"); ok {
				s.Folders[folderIdx[top]].Files++
			}
		}
	}
	return nil
}

type pendingDir struct {
	rel   string
	depth int
}

func dirRels(q []pendingDir) []string {
	out := make([]string, len(q))
	for i, d := range q {
		out[i] = d.rel
	}
	return out
}

// markUnlisted records, when the listing stops, which sub-folders it did
// not finish: "not listed" when nothing beneath was reached, else
// "partly listed". Their counts are lower bounds.
func (s *Summary) markUnlisted(folderIdx map[string]int, rels []string) {
	for _, rel := range rels {
		if rel == "" {
			continue
		}
		top, _, _ := strings.Cut(rel, "/")
		f := &s.Folders[folderIdx[top]]
		if f.Files == 0 && rel == top && f.Listing == "" {
			f.Listing = "not listed"
		} else {
			f.Listing = "partly listed"
		}
	}
}

// sampleHash orders files for sampling by (seed, path), so a sample does
// not depend on listing order (the planner's sampling works the same way).
func sampleHash(seed int64, rel string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", seed, rel)
	return h.Sum64()
}

// tally counts partitions, classes, formats and sizes over every listed file.
func (s *Summary) tally(cfg ScanConfig) {
	parts := map[string]map[string]int{}
	var order []string
	formats, sizes, classes := map[string]int{}, make([]int, len(sizeBuckets)), map[string]int{}
	for i := range s.files {
		f := &s.files[i]
		keys, values := plan.PartitionValues(s.Base.Path, path.Join(s.Base.Path, f.rel))
		for j, k := range keys {
			if parts[k] == nil {
				parts[k] = map[string]int{}
				order = append(order, k)
			}
			parts[k][values[j]]++
		}
		ext := strings.TrimPrefix(strings.ToLower(path.Ext(f.rel)), ".")
		if ext == "" {
			ext = "(none)"
		}
		formats[ext]++
		sizes[bucket(sizeBuckets, f.size)]++
	}
	for _, k := range order {
		s.Partitions = append(s.Partitions, Partition{Column: k, Values: bars(parts[k])})
	}
	switch {
	case len(order) > 0:
		s.ClassBy = order[0]
	case len(s.Folders) > 0:
		s.ClassBy = "folder"
	}
	for i := range s.files {
		f := &s.files[i]
		switch s.ClassBy {
		case "":
		case "folder":
			f.class, _, _ = strings.Cut(f.rel, "/")
			if !strings.Contains(f.rel, "/") {
				f.class = "(top level)"
			}
		default:
			keys, values := plan.PartitionValues(s.Base.Path, path.Join(s.Base.Path, f.rel))
			f.class = "(none)"
			if i := slices.Index(keys, s.ClassBy); i >= 0 {
				f.class = values[i]
			}
		}
		classes[f.class]++
	}
	s.Classes = bars(classes)
	s.Formats = bars(formats)
	s.Sizes = histogram(sizeBuckets, sizes)
}

// Sample returns a seeded sample of up to ThumbsPerClass files in each of
// the ThumbClasses largest classes, class by class.
func (s *Summary) Sample(cfg ScanConfig) (classes []string, files [][]string) {
	by := map[string][]scanned{}
	for _, f := range s.files {
		by[f.class] = append(by[f.class], f)
	}
	for _, b := range s.Classes {
		if len(classes) == cfg.ThumbClasses {
			break
		}
		fs := by[b.Label]
		sort.Slice(fs, func(i, j int) bool { return fs[i].hash < fs[j].hash })
		var uris []string
		for _, f := range fs[:min(len(fs), cfg.ThumbsPerClass)] {
			uris = append(uris, f.uri)
		}
		classes = append(classes, b.Label)
		files = append(files, uris)
	}
	return classes, files
}

// readHeaders reads the first HeaderBytes of a seeded sample of files and
// decodes only their headers (image.DecodeConfig).
func (s *Summary) readHeaders(ctx context.Context, fsys hdfsio.FileSystem, cfg ScanConfig) {
	pick := slices.Clone(s.files)
	sort.Slice(pick, func(i, j int) bool { return pick[i].hash < pick[j].hash })
	pick = pick[:min(len(pick), cfg.HeaderSample)]
	type result struct {
		side   int
		format string
		err    error
	}
	res := make([]result, len(pick))
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.Parallelism)
	for i, f := range pick {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cfgImg, format, err := header(ctx, fsys, path.Join(s.Base.Path, f.rel), cfg.HeaderBytes)
			res[i] = result{max(cfgImg.Width, cfgImg.Height), format, err}
		}()
	}
	wg.Wait()
	dims, formats := make([]int, len(dimBuckets)), map[string]int{}
	for i, r := range res {
		if r.err != nil {
			if ctx.Err() == nil {
				s.AddBroken(pick[i].rel, pick[i].uri, "header: "+r.err.Error())
			}
			continue
		}
		s.Headers++
		dims[bucket(dimBuckets, int64(r.side))]++
		formats[r.format]++
	}
	s.Dims = histogram(dimBuckets, dims)
	s.HeaderFormats = bars(formats)
}

// header decodes a file's header from its first n bytes, or from up to
// 1 MiB when the header runs past them (a large EXIF block).
func header(ctx context.Context, fsys hdfsio.FileSystem, name string, n int) (image.Config, string, error) {
	for limit := n; ; limit = max(n, 1<<20) {
		buf, whole, err := readPrefix(ctx, fsys, name, limit)
		if err != nil {
			return image.Config{}, "", err
		}
		if len(buf) == 0 {
			return image.Config{}, "", errors.New("empty file")
		}
		c, format, err := image.DecodeConfig(bytes.NewReader(buf))
		if err == nil {
			return c, format, nil
		}
		if whole || limit >= 1<<20 || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return image.Config{}, "", err
		}
	}
}

// readPrefix reads up to limit bytes of a file; whole says it was all.
func readPrefix(ctx context.Context, fsys hdfsio.FileSystem, name string, limit int) ([]byte, bool, error) {
	rc, err := fsys.Open(ctx, name)
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	buf := make([]byte, limit)
	m, err := io.ReadFull(rc, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return buf[:m], true, nil
	}
	return buf[:m], false, err
}
