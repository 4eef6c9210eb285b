package model

import (
	"container/list"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/imageflight/imageflight/pkg/wire"
)

var (
	cacheLoads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_model_loads_total",
		Help: "Models a worker needed, by outcome: hit (session cached), loaded (fetched and opened), failed.",
	}, []string{"outcome"})
	cacheBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "imageflight_model_cache_bytes",
		Help: "Bytes of the models whose sessions a worker keeps open.",
	})
)

// Cache keeps open sessions by model digest, so each worker fetches and
// opens a model once however many streams use it. Sessions not in use are
// closed, least recently used first, when the models' bytes pass the
// bound; a session in use is never closed.
type Cache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	entries map[string]*cacheEntry
	lru     *list.List // idle entries, most recently released at the front
}

type cacheEntry struct {
	digest string
	size   int64
	ready  chan struct{} // closed once s or err is set
	s      *Session
	err    error
	refs   int
	idle   *list.Element // in lru while refs == 0
}

// NewCache returns a cache of at most maxBytes of idle models.
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, entries: map[string]*cacheEntry{}, lru: list.New()}
}

// Get returns the session of the model with digest, opening it with load
// when the cache does not hold it (one load however many callers wait for
// it). Call release when done with the session.
func (c *Cache) Get(ctx context.Context, digest string, size int64, load func(context.Context) (*Session, error)) (s *Session, release func(), err error) {
	c.mu.Lock()
	e, ok := c.entries[digest]
	if !ok {
		e = &cacheEntry{digest: digest, size: size, ready: make(chan struct{})}
		c.entries[digest] = e
		c.used += size
		cacheBytes.Set(float64(c.used))
	}
	e.refs++
	if e.idle != nil {
		c.lru.Remove(e.idle)
		e.idle = nil
	}
	c.mu.Unlock()
	if !ok {
		e.s, e.err = load(ctx)
		close(e.ready)
		if e.err != nil {
			cacheLoads.WithLabelValues("failed").Inc()
		} else {
			cacheLoads.WithLabelValues("loaded").Inc()
		}
	} else {
		cacheLoads.WithLabelValues("hit").Inc()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		c.release(e)
		return nil, nil, wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for model "+digest)
	}
	if e.err != nil {
		c.release(e)
		return nil, nil, e.err
	}
	var once sync.Once
	return e.s, func() { once.Do(func() { c.release(e) }) }, nil
}

// release drops a reference; a failed entry goes at once (the next Get
// tries again), an idle one waits in the LRU until the bound needs room.
func (c *Cache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	select {
	case <-e.ready:
	default:
		return // still loading: its loader holds a reference
	}
	if e.err != nil {
		c.drop(e)
		return
	}
	e.idle = c.lru.PushFront(e)
	for c.used > c.max && c.lru.Len() > 0 {
		old := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		old.idle = nil
		c.drop(old)
	}
}

// drop forgets e (its refs are 0) and closes its session.
func (c *Cache) drop(e *cacheEntry) {
	if c.entries[e.digest] == e {
		delete(c.entries, e.digest)
	}
	c.used -= e.size
	cacheBytes.Set(float64(c.used))
	if e.s != nil {
		e.s.Close()
	}
}

// Len is how many models the cache holds, in use or idle.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// CloseIdle closes every session no stream uses (a worker short of
// memory for another model).
func (c *Cache) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		e := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		e.idle = nil
		c.drop(e)
	}
}
