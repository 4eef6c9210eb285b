// Package membership is how imageflight's processes find each other: the
// coordinator and every worker join one hashicorp/memberlist gossip cluster
// and publish small metadata (role, Flight address, host, capacity,
// version). The coordinator plans only over the workers this package
// reports alive.
package membership

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Roles a member can have.
const (
	RoleCoordinator = "coordinator"
	RoleWorker      = "worker"
	// RoleStandalone is a coordinator that also serves DoGet.
	RoleStandalone = "standalone"
)

// Meta is what each member publishes; it must encode within memberlist's
// 512-byte limit (New checks).
type Meta struct {
	Role   string `json:"r"`
	Flight string `json:"f"` // Flight URI, e.g. grpc://127.0.0.2:8816
	// Unix is the member's grpc+unix:// location for clients on its host
	// ("" when it serves none).
	Unix     string `json:"u,omitempty"`
	Host     string `json:"h"` // host name matched against HDFS replica hosts
	Capacity int    `json:"c"` // decode slots
	Version  string `json:"v"`
	// Auth and TLS are the member's security mode: whether its Flight
	// port requires bearer tokens and serves TLS. Members from before
	// these fields read as neither, which is what they served.
	Auth bool `json:"a,omitempty"`
	TLS  bool `json:"t,omitempty"`
}

// SecurityMismatch says why a member's security mode differs from own, or
// "" when it matches. A coordinator plans no mismatched worker: a worker
// without auth in a cluster that requires it would serve anyone.
func (m Meta) SecurityMismatch(own Meta) string {
	onOff := map[bool]string{true: "on", false: "off"}
	switch {
	case m.Auth != own.Auth:
		return fmt.Sprintf("security mode differs: auth is %s on this member, %s on the coordinator", onOff[m.Auth], onOff[own.Auth])
	case m.TLS != own.TLS:
		return fmt.Sprintf("security mode differs: TLS is %s on this member, %s on the coordinator", onOff[m.TLS], onOff[own.TLS])
	}
	return ""
}

// Node is a live member.
type Node struct {
	Name string
	Addr string // gossip address
	Meta Meta
}

// Config configures a member.
type Config struct {
	Name          string   // unique in the cluster
	BindAddr      string   // gossip listen host
	BindPort      int      // gossip listen port; 0 picks a free one
	AdvertiseAddr string   // address others reach us at; default BindAddr
	AdvertisePort int      // port others reach us at; default BindPort
	Join          []string // seed members host:port
	SecretKey     []byte   // 16, 24 or 32 bytes enables encrypted gossip
	Meta          Meta
	// RejoinInterval is how often a member that sees none of its seeds alive
	// tries to join them again (a restarted coordinator comes back this way).
	RejoinInterval time.Duration
	// Local selects memberlist's loopback timings (faster failure detection).
	Local  bool
	Logger *slog.Logger
}

// DefaultConfig returns a config for a member on this host.
func DefaultConfig() Config {
	return Config{BindAddr: "127.0.0.1", BindPort: 7946, RejoinInterval: 2 * time.Second, Logger: slog.Default()}
}

// Member is this process's membership in the cluster.
type Member struct {
	cfg  Config
	list *memberlist.Memberlist
	meta []byte
	log  *slog.Logger

	// nodes mirrors memberlist's live members, kept by its event callbacks:
	// the *Node values Members() returns are updated in place by memberlist
	// without our lock, so reading them later races.
	mu    sync.Mutex
	nodes map[string]Node

	stop  chan struct{}
	done  sync.WaitGroup
	leave sync.Once
	left  error
}

// New starts gossiping and joins the seed list, retrying in the background
// until a seed answers; it does not block on the seeds.
func New(cfg Config) (*Member, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("membership: node name is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("membership: node %s metadata is %d bytes, limit %d", cfg.Name, len(meta), memberlist.MetaMaxSize)
	}
	mc := memberlist.DefaultLANConfig()
	if cfg.Local {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.BindPort // used only with an explicit AdvertiseAddr
	if cfg.AdvertisePort > 0 {
		mc.AdvertisePort = cfg.AdvertisePort
	}
	// A restarted worker rejoins under its old name instead of waiting for
	// the dead entry to expire.
	mc.DeadNodeReclaimTime = 10 * time.Second
	// A coordinator restarted on the same address answers the old one's
	// pings, so workers never see it fail; it learns the members from the
	// next full-state push/pull. Doing that every 5 s (memberlist scales it
	// up past 32 nodes) bounds how long a restarted coordinator plans
	// without its workers.
	mc.PushPullInterval = 5 * time.Second
	mc.SecretKey = cfg.SecretKey
	mc.Logger = slog.NewLogLogger(cfg.Logger.With("component", "memberlist").Handler(), slog.LevelDebug)
	m := &Member{cfg: cfg, meta: meta, log: cfg.Logger, stop: make(chan struct{}), nodes: map[string]Node{}}
	mc.Delegate = delegate{m}
	mc.Events = events{m}
	list, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start %s on %s:%d: %w", cfg.Name, cfg.BindAddr, cfg.BindPort, err)
	}
	m.list = list
	if len(cfg.Join) > 0 {
		m.done.Add(1)
		go m.keepJoined()
	}
	return m, nil
}

// Addr is the gossip address others can join.
func (m *Member) Addr() string {
	n := m.list.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// keepJoined joins the seeds, and joins again whenever none of them is alive
// (the coordinator restarted, or the network healed).
func (m *Member) keepJoined() {
	defer m.done.Done()
	interval := m.cfg.RejoinInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if !m.seedAlive() {
			n, err := m.list.Join(m.cfg.Join)
			if err != nil {
				m.log.Warn("join seeds failed; retrying", "node", m.cfg.Name, "seeds", m.cfg.Join, "err", err)
				t.Reset(min(interval, time.Second))
				continue
			}
			m.log.Info("joined cluster", "node", m.cfg.Name, "seeds_reached", n)
		}
		t.Reset(interval)
	}
}

func (m *Member) seedAlive() bool {
	alive := map[string]bool{}
	for _, n := range m.Nodes("") {
		if n.Name != m.cfg.Name {
			alive[n.Addr] = true
		}
	}
	for _, s := range m.cfg.Join {
		if alive[s] {
			return true
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		if ips, err := net.LookupHost(host); err == nil {
			for _, ip := range ips {
				if alive[net.JoinHostPort(ip, port)] {
					return true
				}
			}
		}
	}
	return false
}

// Nodes returns the live members with the given role ("" for all), sorted by
// name.
func (m *Member) Nodes(role string) []Node {
	m.mu.Lock()
	var out []Node
	for _, n := range m.nodes {
		if role == "" || n.Meta.Role == role {
			out = append(out, n)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// events copies memberlist's join/update/leave notifications into the node
// table; memberlist calls them with the node locked. Members whose
// metadata does not parse (not imageflight) are left out.
type events struct{ m *Member }

func (e events) NotifyJoin(n *memberlist.Node)   { e.put(n) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.put(n) }
func (e events) NotifyLeave(n *memberlist.Node) {
	e.m.mu.Lock()
	delete(e.m.nodes, n.Name)
	e.m.mu.Unlock()
}

func (e events) put(n *memberlist.Node) {
	var meta Meta
	if err := json.Unmarshal(n.Meta, &meta); err != nil {
		return
	}
	node := Node{Name: n.Name, Addr: n.Address(), Meta: meta}
	e.m.mu.Lock()
	e.m.nodes[n.Name] = node
	e.m.mu.Unlock()
}

// Leave tells the cluster we are going, then stops gossiping. Later calls
// return the first call's result.
func (m *Member) Leave(ctx context.Context) error {
	m.leave.Do(func() {
		close(m.stop)
		m.done.Wait()
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		m.left = m.list.Leave(timeout)
		if err := m.list.Shutdown(); m.left == nil {
			m.left = err
		}
	})
	return m.left
}

// delegate publishes our metadata; we use no user messages or state sync.
type delegate struct{ m *Member }

func (d delegate) NodeMeta(limit int) []byte                  { return d.m.meta }
func (d delegate) NotifyMsg([]byte)                           {}
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}

// Name is this member's name.
func (m *Member) Name() string { return m.cfg.Name }
