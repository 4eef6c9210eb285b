package wire

// DoAction names. Bodies and answers are JSON unless said otherwise.
const (
	// ActionClusterStatus (coordinator): members, their state and load.
	// Body empty; answer ClusterStatus.
	ActionClusterStatus = "cluster-status"
	// ActionWorkerStatus (worker): its streams. Body empty; answer
	// WorkerStatus.
	ActionWorkerStatus = "worker-status"
	// ActionSplit (coordinator, called by workers): the file list of a
	// by-reference ticket's split. Body: the ticket as signed; answer: the
	// packed SplitList (PackSplitList), not JSON.
	ActionSplit = "split"
)

// WorkerStatus is the worker-status answer.
type WorkerStatus struct {
	Active   int64 `json:"active"`
	Draining bool  `json:"draining"`
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
}

// ClusterStatus is the cluster-status answer: every member, and the
// workers new plans may use.
type ClusterStatus struct {
	Coordinator string         `json:"coordinator"`
	Workers     []MemberStatus `json:"workers"`
	Members     []MemberStatus `json:"members"`
}
