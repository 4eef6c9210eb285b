package wire

import (
	"encoding/json"
	"time"
)

// DoAction names. Bodies and answers are JSON unless said otherwise.
const (
	// ActionClusterStatus (coordinator): members, their state and load.
	// Body empty; answer ClusterStatus.
	ActionClusterStatus = "cluster-status"
	// ActionWorkerStatus (worker): its streams and counters. Body empty,
	// or WorkerStatusRequest; answer WorkerStatus.
	ActionWorkerStatus = "worker-status"
	// ActionSplit (coordinator, called by workers): the file list of a
	// by-reference ticket's split. Body: the ticket as signed; answer: the
	// packed SplitList (PackSplitList), not JSON.
	ActionSplit = "split"
)

// WorkerStatusRequest is the optional worker-status body: Detail asks for
// the recent streams and failed files too (the console does; the
// coordinator's once-a-second health probes do not).
type WorkerStatusRequest struct {
	Detail bool `json:"detail"`
}

// WantDetail reports whether a worker-status body asks for detail; an
// empty or unreadable body does not.
func WantDetail(body []byte) bool {
	var r WorkerStatusRequest
	return len(body) > 0 && json.Unmarshal(body, &r) == nil && r.Detail
}

// WorkerStatus is the worker-status answer.
type WorkerStatus struct {
	Active   int64 `json:"active"`
	Draining bool  `json:"draining"`
	// The counters below are the worker process's since it started (the
	// same values its /metrics exposes); a reader derives rates from two
	// answers. Older workers leave them out.
	//
	// Images counts images served, by result: ok, invalid, dropped.
	Images map[string]int64 `json:"images,omitempty"`
	// BytesRead is encoded image bytes read from storage.
	BytesRead int64 `json:"bytesRead,omitempty"`
	// PixelBytes is decoded (and transformed) pixel bytes in rows served.
	PixelBytes int64 `json:"pixelBytes,omitempty"`
	// Streams counts finished DoGet streams by gRPC code (OK, Canceled…).
	Streams map[string]int64 `json:"streams,omitempty"`
	// SendTimeouts counts streams failed because their client stopped reading.
	SendTimeouts int64 `json:"sendTimeouts,omitempty"`
	// BudgetUsed and BudgetLimit are the memory budget's bytes reserved now
	// and its size.
	BudgetUsed  int64 `json:"budgetUsed,omitempty"`
	BudgetLimit int64 `json:"budgetLimit,omitempty"`
	// Recent are the worker's last streams (at most 100), oldest first;
	// with Detail only.
	Recent []StreamStatus `json:"recent,omitempty"`
	// Failures are the last files it could not decode (at most 50), oldest
	// first; with Detail only.
	Failures []FileFailure `json:"failures,omitempty"`
}

// StreamStatus is one DoGet stream of a split as its worker saw it.
type StreamStatus struct {
	Plan  string `json:"plan"`
	Split int    `json:"split"`
	Files int    `json:"files"`
	// From is where the stream started: 0, or the resume position when a
	// client resumed the split here after losing another location.
	From int `json:"from"`
	// Done is the split's files sent so far (rows, or dropped).
	Done int `json:"done"`
	// State is running, done or failed (Err says why).
	State   string    `json:"state"`
	Err     string    `json:"err,omitempty"`
	Started time.Time `json:"started"`
}

// FileFailure is one file a worker served as an invalid row (or dropped),
// and why.
type FileFailure struct {
	Origin string    `json:"origin"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// MemberStatus is one member in the cluster-status answer.
type MemberStatus struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Location string `json:"location"`
	Host     string `json:"host"`
	Capacity int    `json:"capacity"`
	Version  string `json:"version"`
	// State is "alive"; "unreachable" when gossip says alive but the
	// coordinator's direct probes fail; "mismatched" when the member's
	// security mode (auth, TLS) differs from the coordinator's, so it is
	// never planned. Reason says why for states other than "alive".
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Active is the worker's streams in flight (-1 when it did not answer).
	Active int64 `json:"active"`
	// Worker is the worker's whole worker-status answer (nil when it did
	// not answer, and for the coordinator).
	Worker *WorkerStatus `json:"worker,omitempty"`
}

// ClusterStatus is the cluster-status answer: every member, and the
// workers new plans may use.
type ClusterStatus struct {
	Coordinator string         `json:"coordinator"`
	Workers     []MemberStatus `json:"workers"`
	Members     []MemberStatus `json:"members"`
}
