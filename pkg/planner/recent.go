package planner

import (
	"sync"
	"time"
)

// recentPlans is how many plans RecentPlans remembers: enough for a console
// page, little memory (no file lists are kept, descriptors are cut).
const (
	recentPlans           = 50
	maxRecordedDescriptor = 4 << 10
)

// PlanRecord is one GetFlightInfo as the coordinator saw it, for the
// console: what was asked, what the plan held, or why it failed. Streams
// run on the workers; a record says nothing about their progress.
type PlanRecord struct {
	ID         string
	At         time.Time
	Took       time.Duration
	Descriptor string // the JSON command as the client sent it
	Path       string
	Files      int
	Bytes      int64
	Splits     []SplitRecord
	ByRef      bool   // file lists kept here, fetched by workers
	Err        string // "" for a plan that succeeded
}

// SplitRecord is one endpoint of a plan.
type SplitRecord struct {
	Files     int
	Bytes     int64
	Locations []string // worker names, preferred first
}

// planLog keeps the last recentPlans records, newest last.
type planLog struct {
	mu   sync.Mutex
	recs []PlanRecord
}

func (l *planLog) add(desc []byte, start time.Time, p *readPlan, err error) {
	if len(desc) > maxRecordedDescriptor {
		desc = append(desc[:maxRecordedDescriptor:maxRecordedDescriptor], "…"...)
	}
	r := PlanRecord{At: start, Took: time.Since(start), Descriptor: string(desc)}
	if err != nil {
		r.Err = err.Error()
	}
	if p != nil {
		r.ID, r.Path, r.Files, r.Bytes, r.ByRef = p.id, p.base.String(), p.files, p.bytes, p.byRef
		for i, s := range p.splits {
			sr := SplitRecord{Files: len(s.Files), Bytes: s.Bytes}
			if i < len(p.locations) {
				for _, w := range p.locations[i] {
					sr.Locations = append(sr.Locations, p.workers[w].Name)
				}
			}
			r.Splits = append(r.Splits, sr)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == recentPlans {
		l.recs = append(l.recs[:0], l.recs[1:]...)
	}
	l.recs = append(l.recs, r)
}

// RecentPlans returns the last plans this coordinator made or refused,
// newest first.
func (c *Coordinator) RecentPlans() []PlanRecord {
	c.recent.mu.Lock()
	defer c.recent.mu.Unlock()
	out := make([]PlanRecord, len(c.recent.recs))
	for i, r := range c.recent.recs {
		out[len(out)-1-i] = r
	}
	return out
}
