// Package console is the coordinator's read-only web console: a Cluster
// page (members, their load and failures, from gossip and the workers'
// worker-status answers), a Reads page (the plans the coordinator made)
// and a Browse page (a folder under the roots: sub-folders, label balance,
// formats, size and dimension histograms from headers, a thumbnail grid
// decoded by the workers, broken files). It reads through small interfaces
// defined here, which cmd/coordinator adapts to the process; pages are
// rendered with html/template (every name escaped) from embedded templates
// and one stylesheet, with no script, no CDN and no build step. It costs
// nothing while nobody looks: every figure is gathered when a page is asked
// for. Authentication and TLS are the server's (pkg/server wraps it).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"image"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/wire"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Cluster reports the members, their state and each worker's worker-status
// with its recent streams and failed files (pkg/server's cluster-status,
// in detail: asked only while someone looks at a page).
type Cluster interface {
	ClusterStatusDetail(ctx context.Context) wire.ClusterStatus
}

// Plans reports the coordinator's recent plans, newest first.
type Plans interface {
	RecentPlans() []Plan
}

// Plan is one GetFlightInfo the coordinator answered or refused.
type Plan struct {
	ID         string
	At         time.Time
	Took       time.Duration
	Descriptor string
	Path       string
	Files      int
	Bytes      int64
	Splits     []Split
	ByRef      bool
	Err        string
}

// Split is one endpoint of a plan.
type Split struct {
	Files     int
	Bytes     int64
	Locations []string
}

// Storage hands out the file system holding a location (*hdfsio.Mounts).
type Storage interface {
	For(ctx context.Context, loc hdfsio.Location) (hdfsio.FileSystem, error)
}

// Thumbnailer makes small images of files, decoded where the pixels are
// (the workers); a file that fails comes back with Failure set.
type Thumbnailer interface {
	Thumbnails(ctx context.Context, files []string, size int) ([]Thumb, error)
}

// Thumb is one file's thumbnail, or why there is none.
type Thumb struct {
	Origin  string
	Image   image.Image // nil when Failure is set
	Failure string
}

// Deps are what the console reads from.
type Deps struct {
	Cluster Cluster
	Plans   Plans
	Storage Storage
	// Roots bound what Browse may show, as they bound what may be read.
	Roots  hdfsio.Roots
	Thumbs Thumbnailer
	Logger *slog.Logger
}

// Config holds the console's bounds.
type Config struct {
	Scan ScanConfig
	// Refresh is how often the Cluster page reloads itself.
	Refresh time.Duration
	// PageTimeout bounds the work behind one page (listing, headers,
	// thumbnails); what is not done by then is reported as missing.
	PageTimeout time.Duration
}

// DefaultConfig returns the console's defaults.
func DefaultConfig() Config {
	return Config{
		Scan: DefaultScanConfig(),
		// Five seconds shows a read's progress without loading the cluster.
		Refresh: 5 * time.Second,
		// A page that takes longer is broken; a slow NameNode must not pile up
		// requests behind it.
		PageTimeout: 20 * time.Second,
	}
}

// Validate reports the first bound out of range.
func (c Config) Validate() error {
	switch {
	case c.Refresh <= 0:
		return fmt.Errorf("console: refresh must be positive, got %s", c.Refresh)
	case c.PageTimeout <= 0:
		return fmt.Errorf("console: page timeout must be positive, got %s", c.PageTimeout)
	}
	return c.Scan.Validate()
}

// Console serves the pages.
type Console struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	pages map[string]*template.Template
	rates rateKeeper
}

// New returns a console; Handler serves it.
func New(cfg Config, deps Deps) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Cluster == nil || deps.Plans == nil || deps.Storage == nil || len(deps.Roots) == 0 {
		return nil, errors.New("console: a cluster, plans, storage and roots are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	c := &Console{cfg: cfg, deps: deps, log: deps.Logger, pages: map[string]*template.Template{}, rates: rateKeeper{last: map[string]sample{}}}
	for _, name := range []string{"cluster", "reads", "browse", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return c, nil
}

// Handler serves the pages under /: /cluster, /reads, /browse and
// /static/. Only GET and HEAD are answered: the console changes nothing.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(assets))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cluster", http.StatusFound)
	})
	mux.HandleFunc("GET /cluster", c.cluster)
	mux.HandleFunc("GET /reads", c.reads)
	mux.HandleFunc("GET /browse", c.browse)
	return secureHeaders(mux)
}

// secureHeaders forbids every script, inline or not, and any resource from
// elsewhere: even a name that slipped past escaping could not run.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// page is what layout.html needs besides the page's own data.
type page struct {
	Title   string
	Active  string
	Refresh int // seconds; 0: no reload
	Data    any
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.pages[name].Execute(w, p); err != nil {
		c.log.Warn("console: render", "page", name, "err", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, status int, msg string) {
	c.render(w, status, "error", page{Title: http.StatusText(status), Data: msg})
}

// rateKeeper turns the workers' counters into rates between two looks at
// the Cluster page: nothing is sampled while nobody looks.
type rateKeeper struct {
	mu   sync.Mutex
	last map[string]sample
}

// sample is a worker's counters at one look: images, bytes read, pixel
// bytes.
type sample struct {
	at     time.Time
	counts [3]int64
}

// forget drops members no longer in the cluster.
func (k *rateKeeper) forget(keep map[string]bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for name := range k.last {
		if !keep[name] {
			delete(k.last, name)
		}
	}
}

// rate returns the per-second rates of counts since the previous look at
// member (ok false on the first look, or after a worker restarted).
func (k *rateKeeper) rate(member string, now time.Time, counts [3]int64) (rates [3]float64, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	prev, seen := k.last[member]
	k.last[member] = sample{at: now, counts: counts}
	dt := now.Sub(prev.at).Seconds()
	if !seen || dt <= 0 {
		return rates, false
	}
	for i, c := range counts {
		if c < prev.counts[i] {
			return rates, false
		}
		rates[i] = float64(c-prev.counts[i]) / dt
	}
	return rates, true
}
