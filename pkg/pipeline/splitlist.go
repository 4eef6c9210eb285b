package pipeline

import (
	"context"
	"fmt"

	"github.com/imageflight/imageflight/pkg/wire"
)

// Caller runs an action on another member; peer.Pool satisfies it.
type Caller interface {
	Action(ctx context.Context, location, action string, body []byte) ([]byte, error)
}

// splitList fills a by-reference ticket's list from its coordinator;
// fetched lists are cached per split so a resumed stream does not ask again.
func (w *Worker) splitList(ctx context.Context, t *wire.Ticket, signed []byte) error {
	if t.Coordinator == "" {
		return nil
	}
	key := fmt.Sprintf("%s/%d", t.Plan, t.Split)
	w.splitMu.Lock()
	l, ok := w.splitCache[key]
	w.splitMu.Unlock()
	if !ok {
		packed, err := w.deps.Peers.Action(ctx, t.Coordinator, wire.ActionSplit, signed)
		if err != nil {
			return wire.Wrap(wire.AutoKind, err, "fetch split from coordinator")
		}
		if l, err = wire.UnpackSplitList(packed, t.Count); err != nil {
			return wire.Wrap(wire.KindInternal, err, fmt.Sprintf("split %d of plan %s from %s", t.Split, t.Plan, t.Coordinator))
		}
		w.splitMu.Lock()
		if len(w.splitCache) >= 256 {
			clear(w.splitCache)
		}
		w.splitCache[key] = l
		w.splitMu.Unlock()
	}
	t.Files, t.Dirs = l.Files, l.Dirs
	return nil
}
