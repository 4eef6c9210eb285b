package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// ActionSplit is how a worker fetches the files of a split whose ticket
// left them out (plans too large for one FlightInfo). Body: the ticket.
const ActionSplit = "split"

// planStore keeps the file lists of large plans on the coordinator until
// their tickets expire. Only the newest plans are kept (oldest evicted), so
// memory stays bounded; a ticket of an evicted or pre-restart plan fails
// with FailedPrecondition and the client plans again.
type planStore struct {
	mu    sync.Mutex
	max   int
	plans map[string]storedPlan
	order []string
}

type storedPlan struct {
	expires time.Time
	splits  [][]TicketFile
}

func newPlanStore(max int) *planStore {
	return &planStore{max: max, plans: map[string]storedPlan{}}
}

func (s *planStore) put(id string, p storedPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	kept := s.order[:0]
	for _, old := range s.order {
		if s.plans[old].expires.Before(now) || len(kept) >= s.max-1 {
			delete(s.plans, old)
			continue
		}
		kept = append(kept, old)
	}
	s.order = append(kept, id)
	s.plans[id] = p
}

func (s *planStore) get(id string, split int) ([]TicketFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[id]
	if !ok || split < 0 || split >= len(p.splits) {
		return nil, false
	}
	return p.splits[split], true
}

// Split answers a worker's split action: the files of a stored plan's split.
func (c *Coordinator) Split(wire []byte) ([]byte, error) {
	t, _, err := c.signer.Verify(wire, time.Now())
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "split: %v", err)
	}
	files, ok := c.plans.get(t.Plan, t.Split)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "plan %s is no longer held by this coordinator (restarted, or evicted by newer plans); call GetFlightInfo again", t.Plan)
	}
	return pack(files)
}

// splitFiles returns a ticket's files, fetching them from the coordinator
// when the ticket leaves them out; fetched lists are cached per split so a
// resumed stream does not ask again.
func (w *Worker) splitFiles(ctx context.Context, t *Ticket, wire []byte) ([]TicketFile, error) {
	if t.Coordinator == "" {
		return t.Files, nil
	}
	key := fmt.Sprintf("%s/%d", t.Plan, t.Split)
	w.splitMu.Lock()
	files, ok := w.splitCache[key]
	w.splitMu.Unlock()
	if ok {
		return files, nil
	}
	files, err := w.fetchSplit(ctx, t.Coordinator, Unsuffixed(wire))
	if err != nil {
		return nil, err
	}
	if len(files) != t.Count {
		return nil, status.Errorf(codes.Internal, "coordinator sent %d files for split %d of plan %s, ticket says %d", len(files), t.Split, t.Plan, t.Count)
	}
	w.splitMu.Lock()
	if len(w.splitCache) >= 256 {
		clear(w.splitCache)
	}
	w.splitCache[key] = files
	w.splitMu.Unlock()
	return files, nil
}

func (w *Worker) fetchSplit(ctx context.Context, coordinator string, wire []byte) ([]TicketFile, error) {
	addr, ok := cutScheme(coordinator)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "ticket names coordinator %q, not a grpc location", coordinator)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1 << 30))}, w.cfg.DialOptions...)
	fc, err := aflight.NewClientWithMiddleware(addr, nil, nil, opts...)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "dial coordinator %s: %v", coordinator, err)
	}
	defer fc.Close()
	s, err := fc.DoAction(ctx, &aflight.Action{Type: ActionSplit, Body: wire})
	if err != nil {
		return nil, passStatus(err, "fetch split from coordinator "+coordinator)
	}
	r, err := s.Recv()
	if err != nil {
		return nil, passStatus(err, "fetch split from coordinator "+coordinator)
	}
	var files []TicketFile
	if err := unpack(r.GetBody(), &files); err != nil {
		return nil, status.Errorf(codes.Internal, "split from coordinator %s: %v", coordinator, err)
	}
	return files, nil
}

// passStatus keeps a remote status code (FailedPrecondition stays
// FailedPrecondition) and prefixes the message.
func passStatus(err error, what string) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Errorf(st.Code(), "%s: %s", what, st.Message())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

func cutScheme(uri string) (string, bool) {
	for _, p := range []string{"grpc://", "grpc+tcp://", "grpc+tls://"} {
		if len(uri) > len(p) && uri[:len(p)] == p {
			return uri[len(p):], true
		}
	}
	return "", false
}
