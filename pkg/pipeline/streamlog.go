package pipeline

import (
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// Bounds of what a worker remembers for worker-status.
const (
	recentStreams  = 100
	recentFailures = 50
)

// streamLog keeps a worker's last streams and failed files, so the
// coordinator's console can show per-endpoint progress, resumes and why
// files failed. Costs a lock per batch and per failed file.
type streamLog struct {
	mu       sync.Mutex
	streams  []*wire.StreamStatus // oldest first
	failures []wire.FileFailure
}

// track records a stream of split and returns send wrapped to count its
// progress, and the function that records how it ended.
func (l *streamLog) track(t *wire.Ticket, skip, files int, send SendFunc) (SendFunc, func(error)) {
	st := &wire.StreamStatus{Plan: t.Plan, Split: t.Split, Files: files, From: skip, Done: skip, State: "running", Started: time.Now()}
	l.mu.Lock()
	if len(l.streams) == recentStreams {
		l.streams = append(l.streams[:0], l.streams[1:]...)
	}
	l.streams = append(l.streams, st)
	l.mu.Unlock()
	counted := func(rec arrow.RecordBatch, meta wire.BatchMeta) error {
		err := send(rec, meta)
		if err == nil {
			l.mu.Lock()
			st.Done = meta.Next
			l.mu.Unlock()
		}
		return err
	}
	return counted, func(err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		st.State = "done"
		if err != nil {
			st.State, st.Err = "failed", err.Error()
		}
	}
}

func (l *streamLog) failed(origin, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) == recentFailures {
		l.failures = append(l.failures[:0], l.failures[1:]...)
	}
	l.failures = append(l.failures, wire.FileFailure{Origin: origin, Reason: reason, At: time.Now()})
}

// fill copies the log into a worker-status answer.
func (l *streamLog) fill(st *wire.WorkerStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.Recent = make([]wire.StreamStatus, len(l.streams))
	for i, s := range l.streams {
		st.Recent[i] = *s
	}
	st.Failures = append([]wire.FileFailure(nil), l.failures...)
}
