// Package corpus writes imageflight's deterministic sample image set: the
// folder the demo serves and the end-to-end tests read.
//
// Every file is generated from seeded formulas (or, for the encodings Go
// cannot write — progressive JPEG, WebP — embedded fixtures made from the
// same formulas), so two calls to Write produce identical bytes. For the
// lossless formats each Entry carries the Spark row bytes the corpus
// expects, computed here from the source pixels it encoded and never by
// decoding, so tests that compare imagerow's output with it are honest.
//
// Layout: two partition levels everywhere, cls=<class>/split=<split>/, so
// that Spark's partition discovery (which rejects mixed depths) accepts the
// folder too. Hadoop-hidden files (.hidden.png, _SUCCESS) are written but
// not returned: listing must skip them.
package corpus

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// Entry is one file of the corpus and the Spark row expected for it.
type Entry struct {
	Rel    string // slash path relative to the corpus root, e.g. "cls=cats/split=train/cat_00.png"
	Format string // "jpeg", "png", "gif", "bmp", "tiff", "webp" or "broken"
	// Expected row shape; all -1 for broken files.
	Height, Width, NChannels, Mode int32
	// Data is the expected decoded bytes for lossless formats; nil for
	// JPEG, lossy WebP and broken files.
	Data []byte
}

// Options tunes Write.
type Options struct {
	// Scale multiplies the number of images: 1 gives about 40 files and a
	// few MB. Values < 1 are treated as 1. Broken and hidden files are
	// written once whatever the scale.
	Scale int
}

// Hidden lists the files Write creates that a listing must skip.
var Hidden = []string{".hidden.png", "_SUCCESS", "cls=cats/split=train/.DS_Store", "cls=dogs/_temporary.png"}

var (
	classes = []string{"cats", "dogs", "birds"}
	splits  = []string{"train", "test"}
)

// Write creates the corpus under dir, which must exist, and returns its
// entries (hidden files excluded) sorted by Rel.
func Write(dir string, opts Options) ([]Entry, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !st.IsDir() {
		return nil, fmt.Errorf("corpus: %s is not a directory", dir)
	}
	scale := max(opts.Scale, 1)
	var entries []Entry
	put := func(rel string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}
	n := 0
	for rep := 0; rep < scale; rep++ {
		for i, s := range specs {
			cls := classes[n%len(classes)]
			split := splits[(n/len(classes))%len(splits)]
			n++
			name := fmt.Sprintf("%s_%02d.%s", cls[:len(cls)-1], rep*len(specs)+i, s.ext())
			rel := path.Join("cls="+cls, "split="+split, name)
			data, e, err := s.build(int64(rep*1000 + i))
			if err != nil {
				return nil, fmt.Errorf("corpus: %s: %w", rel, err)
			}
			e.Rel = rel
			if err := put(rel, data); err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	}
	for _, b := range broken() {
		if err := put(b.rel, b.data); err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Rel: b.rel, Format: "broken", Height: -1, Width: -1, NChannels: -1, Mode: -1})
	}
	for _, h := range Hidden {
		// Valid image bytes, so a listing that fails to skip them shows up
		// as extra valid rows rather than as invalid ones.
		if err := put(h, tinyPNG()); err != nil {
			return nil, err
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Rel < entries[j].Rel })
	return entries, nil
}
