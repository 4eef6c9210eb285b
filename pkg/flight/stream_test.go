package flight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/imageflight/imageflight/pkg/wire"
)

func TestBatchesRespectTheByteCap(t *testing.T) {
	files := map[string][]byte{}
	for i := range 10 {
		files[fmt.Sprintf("/data/%02d.png", i)] = pngOf(t, 10, 10, byte(i)) // 100 pixel bytes each
	}
	files["/data/99-big.png"] = pngOf(t, 50, 50, 9) // 2,500 bytes: alone in its batch
	tests := []struct {
		name       string
		batchBytes int64
		wantSizes  []int // rows per batch
	}{
		{"everything in one batch", 1 << 20, []int{11}},
		{"three images per batch", int64(3 * (100 + len("mem:/data/00.png") + 32)), []int{3, 3, 3, 1, 1}},
		{"one image per batch", 1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := DefaultWorkerConfig()
			wc.BatchBytes = tc.batchBytes
			r := newRig(t, files, DefaultCoordinatorConfig(), wc, "")
			info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
			bs, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			pos := 0
			for _, b := range bs {
				sizes = append(sizes, len(b.rows))
				pos += len(b.rows)
				if b.next != pos {
					t.Errorf("batch ends at row %d but says next %d", pos, b.next)
				}
				if len(b.rows) > 1 && int64(b.bytes) > tc.batchBytes {
					t.Errorf("batch of %d rows holds %d pixel bytes, over the cap %d", len(b.rows), b.bytes, tc.batchBytes)
				}
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Errorf("rows per batch %v, want %v", sizes, tc.wantSizes)
			}
		})
	}
}

// TestResumeSkipsFilesConsumed checks the resume contract: skip=N counts
// the split's files consumed — dropped ones included — so resuming at any
// batch's next gives exactly the rows not yet received.
func TestResumeSkipsFilesConsumed(t *testing.T) {
	files := map[string][]byte{
		"/data/0.png": pngOf(t, 2, 2, 0), "/data/1.png": []byte("broken"), "/data/2.png": pngOf(t, 2, 2, 2),
		"/data/3.png": []byte("broken"), "/data/4.png": []byte("broken"), "/data/5.png": pngOf(t, 2, 2, 5),
	}
	wc := DefaultWorkerConfig()
	wc.BatchBytes = 1 // one row per batch
	r := newRig(t, files, DefaultCoordinatorConfig(), wc, "")
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			info := r.plan(t, fmt.Sprintf(`{"path": %q, "numPartitions": 1, "dropImageFailures": %v}`, testBase, drop))
			tk := info.GetEndpoint()[0].GetTicket().GetTicket()
			full, err := r.stream(t, tk)
			if err != nil {
				t.Fatal(err)
			}
			all := rowsOf(full)
			wantRows := map[bool]int{false: 6, true: 3}[drop]
			if len(all) != wantRows {
				t.Fatalf("%d rows, want %d", len(all), wantRows)
			}
			for i, b := range full {
				rest, err := r.stream(t, wire.ResumeTicket(tk, b.next))
				if err != nil {
					t.Fatalf("resume at %d: %v", b.next, err)
				}
				received := len(rowsOf(full[:i+1]))
				if got := rowsOf(rest); fmt.Sprint(got) != fmt.Sprint(all[received:]) {
					t.Errorf("resume at next=%d gave %v, want %v", b.next, got, all[received:])
				}
			}
			if _, err := r.stream(t, wire.ResumeTicket(tk, 7)); wire.KindOf(err) != wire.KindInvalidArgument {
				t.Errorf("resume past the split: %v, want invalid argument", err)
			}
		})
	}
}

func TestPlanByReference(t *testing.T) {
	cc := DefaultCoordinatorConfig()
	cc.MaxInfoBytes = 100 // any plan goes by reference
	r := newRig(t, testTree(t), cc, DefaultWorkerConfig(), "grpc://coordinator:1")
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 2}`)
	for _, ep := range info.GetEndpoint() {
		tk, _, err := wire.NewSigner(testSecret).Verify(ep.GetTicket().GetTicket(), time.Now())
		if err != nil || tk.Coordinator != "grpc://coordinator:1" || tk.Files != nil {
			t.Fatalf("ticket %+v, %v; want a reference", tk, err)
		}
	}
	inline := defaultRig(t)
	want := inline.readAll(t, inline.plan(t, `{"path": "`+testBase+`", "numPartitions": 2}`))
	if got := r.readAll(t, info); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("by reference: %v\ninline: %v", got, want)
	}
	// A new worker without the cached split, after the plan was evicted.
	r.coord.plans = newPlanStore(cc.PlanStoreBytes)
	r.work.splitCache = map[string]wire.SplitList{}
	_, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindExpired || status.Code(toStatus(err)) != codes.FailedPrecondition {
		t.Errorf("evicted plan: %v, want expired (FailedPrecondition)", err)
	}
}

func TestPlanStoreEvictsOldestFirstWithinBytes(t *testing.T) {
	s := newPlanStore(100)
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.put(id, exp, [][]byte{make([]byte, 40)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.get("a", 0); ok {
		t.Error("oldest plan kept past the byte bound")
	}
	for _, id := range []string{"b", "c"} {
		if _, ok := s.get(id, 0); !ok {
			t.Errorf("plan %s evicted; only the oldest should go", id)
		}
	}
	if s.bytes != 80 {
		t.Errorf("store counts %d bytes, want 80", s.bytes)
	}
	if err := s.put("huge", exp, [][]byte{make([]byte, 101)}); wire.KindOf(err) != wire.KindResourceExhausted {
		t.Errorf("plan larger than the store: %v", err)
	}
	if err := s.put("d", time.Now().Add(-time.Second), [][]byte{make([]byte, 10)}); err != nil {
		t.Fatal(err)
	}
	if err := s.put("e", exp, [][]byte{make([]byte, 10)}); err != nil || s.bytes != 90 {
		t.Errorf("expired plan not dropped first: %v, %d bytes", err, s.bytes)
	}
	for _, id := range []string{"b", "c", "e"} {
		if _, ok := s.get(id, 0); !ok {
			t.Errorf("plan %s evicted while an expired plan was there to drop", id)
		}
	}
}

func TestErrorsCarryKinds(t *testing.T) {
	r := defaultRig(t)
	expired, err := wire.NewSigner(testSecret).Sign(&wire.Ticket{Plan: "p", Base: testBase, Expires: time.Now().Unix() - 1})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := wire.NewSigner([]byte("another cluster's secret")).Sign(&wire.Ticket{Plan: "p", Base: testBase, Expires: time.Now().Unix() + 60})
	outside, _ := wire.NewSigner(testSecret).Sign(&wire.Ticket{Plan: "p", Base: "hdfs://mem/elsewhere", Expires: time.Now().Unix() + 60})
	escape, _ := wire.NewSigner(testSecret).Sign(&wire.Ticket{Plan: "p", Base: testBase, Expires: time.Now().Unix() + 60,
		Files: []wire.TicketFile{{Rel: "../etc/passwd"}}})
	plan := func(cmd string) error {
		_, err := r.coord.GetFlightInfo(context.Background(), descriptor(cmd))
		return err
	}
	stream := func(tk []byte) error { _, err := r.stream(t, tk); return err }
	tests := []struct {
		name string
		err  error
		kind wire.Kind
		code codes.Code
	}{
		{"bad key", plan(`{"path": "/d", "numPartitions": 0}`), wire.KindInvalidArgument, codes.InvalidArgument},
		{"not a command", func() error { _, err := r.coord.GetFlightInfo(context.Background(), nil); return err }(), wire.KindInvalidArgument, codes.InvalidArgument},
		{"outside the roots", plan(`{"path": "hdfs://mem/elsewhere"}`), wire.KindPermission, codes.PermissionDenied},
		{"missing path", plan(`{"path": "hdfs://mem/data/nope"}`), wire.KindNotFound, codes.NotFound},
		{"expired ticket", stream(expired), wire.KindExpired, codes.FailedPrecondition},
		{"foreign ticket", stream(foreign), wire.KindPermission, codes.PermissionDenied},
		{"garbage ticket", stream([]byte("x")), wire.KindInvalidArgument, codes.InvalidArgument},
		{"ticket base outside the roots", stream(outside), wire.KindPermission, codes.PermissionDenied},
		{"ticket file escaping its base", stream(escape), wire.KindPermission, codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if wire.KindOf(tc.err) != tc.kind || status.Code(toStatus(tc.err)) != tc.code {
				t.Errorf("%v: kind %v code %v, want %v %v", tc.err, wire.KindOf(tc.err), status.Code(toStatus(tc.err)), tc.kind, tc.code)
			}
		})
	}
	noWorkers := newRig(t, testTree(t), DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	noWorkers.coord.deps.Workers = staticWorkers{}
	if _, err := noWorkers.coord.GetFlightInfo(context.Background(), descriptor(`{"path": "`+testBase+`"}`)); wire.KindOf(err) != wire.KindUnavailable {
		t.Errorf("no workers: %v", err)
	}
}

func TestFileVanishedAfterPlanningFailsTheStreamNamingIt(t *testing.T) {
	r := defaultRig(t)
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	r.fs.Remove("/data/cls=cat/n=2/c.png")
	_, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindNotFound || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("vanished file: %v, want not found naming it", err)
	}
}

func TestDrainRefusesNewStreams(t *testing.T) {
	r := defaultRig(t)
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.work.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket()); wire.KindOf(err) != wire.KindUnavailable {
		t.Errorf("draining worker: %v, want unavailable", err)
	}
}

func TestToStatusKeepsGRPCStatuses(t *testing.T) {
	st := status.Error(codes.ResourceExhausted, "grpc said so")
	if toStatus(st) != st {
		t.Error("a grpc status was rewritten")
	}
	wrapped := wire.Wrap(wire.KindExpired, st, "fetch split")
	if status.Code(toStatus(wrapped)) != codes.FailedPrecondition {
		t.Errorf("a kinded error wrapping a status: %v", toStatus(wrapped))
	}
	if toStatus(nil) != nil || status.Code(toStatus(errors.New("io"))) != codes.Unavailable {
		t.Error("nil or unclassified errors mapped wrongly")
	}
	if codeLabel(nil) != "OK" || codeLabel(wire.Errorf(wire.KindNotFound, "x")) != "NotFound" {
		t.Error("metric labels")
	}
}
