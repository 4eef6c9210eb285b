package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/flight"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/membership"
	"github.com/imageflight/imageflight/pkg/peer"
	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/wire"
)

// Process is a running imageflight process.
type Process struct {
	cfg     Config
	log     *slog.Logger
	member  *membership.Member
	svc     *flight.Service
	srv     aflight.Server
	lis     net.Listener
	metrics *http.Server
	served  chan error
	addr    string
	unixLoc string // grpc+unix:// location, "" without a socket
	probe   *prober
	stop    context.CancelFunc
	sec     *security
	peers   *peer.Pool // calls to other members: probes, status
	local   *hdfsio.RootedLocal
	conns   *connTracker    // the Flight listener's connections, for a hard stop
	meta    membership.Meta // what this process publishes in gossip

	metricsAddr string
	console     *http.Server // the console's own listener (HTTPListen)
	consoleAddr string
	roots       hdfsio.Roots
	mounts      *hdfsio.Mounts
}

// Start validates cfg, then starts a process: listens, joins gossip,
// serves. Stop it with Shutdown.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	roots, _ := hdfsio.ParseRoots(cfg.Roots) // Validate parsed them
	secret, err := loadSecret(cfg.SecretFile, cfg.Role&RoleCoordinator != 0)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	p := &Process{cfg: cfg, log: cfg.Logger, lis: lis, served: make(chan error, 1)}
	p.addr = cfg.Advertise
	if p.addr == "" {
		p.addr = lis.Addr().String()
	}
	fail := func(err error) (*Process, error) {
		lis.Close()
		if p.peers != nil {
			p.peers.Close()
		}
		if p.local != nil {
			p.local.Close()
		}
		return nil, err
	}
	if cfg.UnixSocketDir != "" {
		ul, path, err := listenUnix(cfg.UnixSocketDir, p.memberName())
		if err != nil {
			return fail(err)
		}
		p.unixLoc = peer.UnixPrefix + path
		lis = mergeListeners(lis, ul)
		p.lis = lis
	}
	mounts, err := p.assemble(secret, roots)
	if err != nil {
		return fail(err)
	}
	p.roots, p.mounts = roots, mounts
	p.svc = &flight.Service{}
	if cfg.Role&RoleWorker != 0 {
		deps := pipeline.WorkerDeps{Roots: roots, Secret: secret, Mounts: mounts, Peers: p.peers, Logger: cfg.Logger}
		if p.svc.Worker, err = pipeline.NewWorker(cfg.Worker, deps); err != nil {
			return fail(err)
		}
	}
	if err := p.join(secret); err != nil {
		return fail(err)
	}
	if cfg.Role&RoleCoordinator != 0 {
		if err := p.startCoordinator(roots, secret, mounts); err != nil {
			p.member.Leave(ctx)
			return fail(err)
		}
	}
	mw, sopts := p.sec.serverOptions()
	p.srv = flight.NewServer(p.svc, mw, sopts...)
	p.conns = trackConns(lis)
	p.srv.InitListener(p.conns)
	go func() { p.served <- p.srv.Serve() }()
	if err := p.serveHTTP(); err != nil {
		p.Shutdown(ctx)
		return nil, err
	}
	p.log.Info("serving", "name", p.member.Name(), "flight", p.Location(), "gossip", p.member.Addr(), "roots", cfg.Roots, "console", p.ConsoleURL())
	return p, nil
}

// assemble makes what the roles share: security, the peer pool, and the
// file systems (local reads beneath the roots, HDFS dialed on first use).
func (p *Process) assemble(secret []byte, roots hdfsio.Roots) (*hdfsio.Mounts, error) {
	var err error
	if p.sec, err = newSecurity(p.cfg.Security, secret, p.cfg.Role, p.cfg.Logger, p.cfg.Listen); err != nil {
		return nil, err
	}
	p.peers = peer.New(p.sec.peerConfig())
	if p.local, err = hdfsio.NewRootedLocal(roots); err != nil {
		return nil, err
	}
	hc := p.cfg.HDFS
	return &hdfsio.Mounts{Local: p.local, DialHDFS: func(ctx context.Context, authority string) (hdfsio.FileSystem, error) {
		return dialHDFS(ctx, authority, hc)
	}}, nil
}

// startCoordinator adds the planning side and, when configured, the
// health prober that benches unreachable workers.
func (p *Process) startCoordinator(roots hdfsio.Roots, secret []byte, mounts *hdfsio.Mounts) error {
	ws := &workerSet{m: p.member, self: p.meta, log: p.log}
	deps := planner.CoordinatorDeps{Roots: roots, Secret: secret, Mounts: mounts, Workers: ws,
		Locate: webHDFSLocator(p.cfg), Self: p.Location(), Logger: p.cfg.Logger}
	var err error
	if p.svc.Coordinator, err = planner.NewCoordinator(p.cfg.Coordinator, deps); err != nil {
		return err
	}
	p.svc.ClusterStatus = p.ClusterStatus
	if p.cfg.ProbeInterval > 0 {
		p.probe = newProber(ws.gossipWorkers, p.cfg.ProbeInterval, p.workerActive)
		ws.healthy = p.probe.healthy
		var pctx context.Context
		pctx, p.stop = context.WithCancel(context.Background())
		go p.probe.run(pctx)
	}
	return nil
}

// memberRole is the gossip role of the configured role.
func (p *Process) memberRole() string {
	switch p.cfg.Role {
	case RoleCoordinator:
		return membership.RoleCoordinator
	case RoleStandalone:
		return membership.RoleStandalone
	}
	return membership.RoleWorker
}

// memberName is the configured name, else role-host-port of the advertise
// address: unique in the cluster, and the Unix socket's file name.
func (p *Process) memberName() string {
	if p.cfg.Name != "" {
		return p.cfg.Name
	}
	host, port, _ := net.SplitHostPort(p.addr)
	return fmt.Sprintf("%s-%s-%s", p.memberRole(), host, port)
}

func (p *Process) join(secret []byte) error {
	host, _, err := net.SplitHostPort(p.addr)
	if err != nil {
		return fmt.Errorf("advertise address %q: %w", p.addr, err)
	}
	role := p.memberRole()
	mc := membership.DefaultConfig()
	mc.Name = p.memberName()
	gh, gp, err := net.SplitHostPort(p.cfg.GossipListen)
	if err != nil {
		return fmt.Errorf("gossip listen %q: %w", p.cfg.GossipListen, err)
	}
	mc.BindAddr = gh
	if mc.BindPort, err = strconv.Atoi(gp); err != nil {
		return fmt.Errorf("gossip listen %q: %w", p.cfg.GossipListen, err)
	}
	// --gossip-advertise takes a host, or host:port when a NAT or container
	// maps the gossip port to another one.
	mc.AdvertiseAddr = p.cfg.GossipAdvertise
	if h, port, err := net.SplitHostPort(p.cfg.GossipAdvertise); err == nil {
		mc.AdvertiseAddr = h
		if mc.AdvertisePort, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("gossip advertise %q: %w", p.cfg.GossipAdvertise, err)
		}
	}
	mc.Join = p.cfg.Join
	mc.SecretKey = gossipKey(secret)
	mc.Local = p.cfg.LocalGossip
	mc.Logger = p.log
	hostName := p.cfg.Host
	if hostName == "" {
		hostName = host
	}
	mc.Meta = membership.Meta{Role: role, Flight: p.Location(), Unix: p.unixLoc, Host: hostName, Capacity: max(p.cfg.Capacity, 1), Version: Version,
		Auth: p.cfg.Security.AuthEnabled(), TLS: p.sec.serverTLS != nil}
	p.meta = mc.Meta
	p.member, err = membership.New(mc)
	return err
}

// MetricsAddr is where /metrics is served ("" when disabled).
func (p *Process) MetricsAddr() string { return p.metricsAddr }

// Location is the Flight URI clients dial.
func (p *Process) Location() string { return p.sec.scheme() + "://" + p.addr }

// UnixLocation is the grpc+unix:// location clients on this host may dial
// instead ("" without --unix-socket-dir).
func (p *Process) UnixLocation() string { return p.unixLoc }

// GossipAddr is the memberlist address others join.
func (p *Process) GossipAddr() string { return p.member.Addr() }

// Done delivers the Flight server's exit.
func (p *Process) Done() <-chan error { return p.served }

// Shutdown drains in-flight streams and stops serving, bounded by
// DrainTimeout (and ctx): streams still open then are cut (see
// stopServing). It also leaves the gossip cluster.
func (p *Process) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(p.cfg.DrainTimeout, time.Second))
	defer cancel()
	var errs []error
	if p.stop != nil {
		p.stop()
	}
	if w := p.svc.Worker; w != nil {
		if err := w.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	lctx, lcancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer lcancel()
	if err := p.member.Leave(lctx); err != nil {
		errs = append(errs, fmt.Errorf("leave gossip: %w", err))
	}
	p.stopServing(ctx)
	p.peers.Close()
	p.local.Close()
	for _, srv := range []*http.Server{p.metrics, p.console} {
		if srv != nil {
			srv.Close()
		}
	}
	return errors.Join(errs...)
}

// dialHDFS connects to one HDFS namespace: through explicitly configured
// NameNodes, or by resolving the authority in the Hadoop configuration.
func dialHDFS(ctx context.Context, authority string, hc hdfsio.HDFSConfig) (hdfsio.FileSystem, error) {
	if len(hc.NameNodes) > 0 {
		hc.Authority = authority
		return hdfsio.NewHDFS(ctx, hc)
	}
	return hdfsio.DialHDFS(ctx, authority, hc)
}

// webHDFSLocator finds replica hosts through the NameNode's WebHDFS API.
func webHDFSLocator(cfg Config) planner.Locator {
	return func(ctx context.Context, file hdfsio.Location) ([]string, error) {
		addrs := cfg.NameNodeHTTP
		if len(addrs) == 0 {
			addrs = hdfsio.ResolveNameNodeHTTP(cfg.HDFS.Conf, file.Authority)
		}
		w := &hdfsio.WebHDFS{Addrs: addrs, User: cfg.HDFS.User}
		return w.BlockHosts(ctx, file.Path)
	}
}

// workerSet adapts gossip membership to the coordinator's WorkerSet,
// leaving out workers the health prober has benched.
type workerSet struct {
	m       *membership.Member
	self    membership.Meta // the coordinator's own security mode
	healthy func(name string) bool
	log     *slog.Logger
	warned  sync.Map // names of mismatched workers already logged
}

func (s *workerSet) LiveWorkers() []planner.WorkerInfo {
	all := s.gossipWorkers()
	if s.healthy == nil {
		return all
	}
	out := all[:0]
	for _, w := range all {
		if s.healthy(w.Name) {
			out = append(out, w)
		}
	}
	return out
}

// gossipWorkers are the workers gossip reports alive.
func (s *workerSet) gossipWorkers() []planner.WorkerInfo {
	var out []planner.WorkerInfo
	for _, n := range s.m.Nodes("") {
		if n.Meta.Role != membership.RoleWorker && n.Meta.Role != membership.RoleStandalone {
			continue
		}
		if reason := n.Meta.SecurityMismatch(s.self); reason != "" {
			if _, seen := s.warned.LoadOrStore(n.Name, true); !seen {
				s.log.Warn("worker not planned", "worker", n.Name, "reason", reason)
			}
			continue
		}
		out = append(out, planner.WorkerInfo{Name: n.Name, Location: n.Meta.Flight, Unix: n.Meta.Unix, Host: n.Meta.Host, Capacity: n.Meta.Capacity})
	}
	return out
}

// ClusterStatus is the cluster-status answer: every member with its state
// and, for workers, their worker-status.
func (p *Process) ClusterStatus(ctx context.Context) wire.ClusterStatus {
	return p.clusterStatus(ctx, false)
}

// ClusterStatusDetail is ClusterStatus with each worker's recent streams
// and failed files (the console's Reads page).
func (p *Process) ClusterStatusDetail(ctx context.Context) wire.ClusterStatus {
	return p.clusterStatus(ctx, true)
}

func (p *Process) clusterStatus(ctx context.Context, detail bool) wire.ClusterStatus {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nodes := p.member.Nodes("")
	st := wire.ClusterStatus{Coordinator: p.member.Name(), Workers: []wire.MemberStatus{}, Members: make([]wire.MemberStatus, len(nodes))}
	var wg sync.WaitGroup
	for i, n := range nodes {
		ms := wire.MemberStatus{Name: n.Name, Role: n.Meta.Role, Location: n.Meta.Flight, Host: n.Meta.Host,
			Capacity: n.Meta.Capacity, Version: n.Meta.Version, State: "alive", Active: -1}
		if reason := n.Meta.SecurityMismatch(p.meta); reason != "" {
			ms.State, ms.Reason = "mismatched", reason
		} else if p.probe != nil && !p.probe.healthy(n.Name) {
			ms.State, ms.Reason = "unreachable", "gossip says alive but direct worker-status probes fail"
		}
		st.Members[i] = ms
		if n.Meta.Role == membership.RoleCoordinator {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if ws := p.workerStatus(ctx, st.Members[i].Location, detail); ws != nil {
				st.Members[i].Active, st.Members[i].Worker = ws.Active, ws
			}
		}(i)
	}
	wg.Wait()
	for _, m := range st.Members {
		if m.Role != membership.RoleCoordinator && m.State == "alive" {
			st.Workers = append(st.Workers, m)
		}
	}
	return st
}

// workerActive asks a worker how many streams it serves; -1 if it can't say.
func (p *Process) workerActive(ctx context.Context, location string) int64 {
	if ws := p.workerStatus(ctx, location, false); ws != nil {
		return ws.Active
	}
	return -1
}

// workerStatus asks a worker for its worker-status (with detail, its
// recent streams and failures too); nil if it can't say.
func (p *Process) workerStatus(ctx context.Context, location string, detail bool) *wire.WorkerStatus {
	var req []byte
	if detail {
		req, _ = json.Marshal(wire.WorkerStatusRequest{Detail: true})
	}
	body, err := p.peers.Action(ctx, location, wire.ActionWorkerStatus, req)
	if err != nil {
		return nil
	}
	var ws wire.WorkerStatus
	if json.Unmarshal(body, &ws) != nil {
		return nil
	}
	return &ws
}

// Run starts a process and serves until ctx ends, then shuts down
// gracefully. A worker's Go memory limit follows its memory budget
// (applyMemoryLimit); Start alone leaves the runtime as it is, for
// processes that host several servers (tests).
func Run(ctx context.Context, cfg Config) error {
	p, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if limit := applyMemoryLimit(cfg); limit > 0 {
		p.log.Info("Go memory limit set from the memory budget (GOMEMLIMIT overrides)", "memory_budget", cfg.Worker.MemoryBudget, "limit", limit)
	}
	select {
	case <-ctx.Done():
		p.log.Info("shutting down", "drain_timeout", cfg.DrainTimeout)
		return p.Shutdown(context.Background())
	case err := <-p.served:
		p.member.Leave(context.Background())
		if err != nil {
			return fmt.Errorf("flight server on %s: %w", p.addr, err)
		}
		return nil
	}
}
