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
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	probe   *prober
	stop    context.CancelFunc
	sec     *security

	metricsAddr string
}

// Start starts a process: listens, joins gossip, serves. Stop it with
// Shutdown.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Role&RoleStandalone == 0 {
		return nil, errors.New("server: role must be coordinator, worker or both")
	}
	roots, err := hdfsio.ParseRoots(cfg.Roots)
	if err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, errors.New("server: at least one --root is required: the folders or hdfs:// paths this cluster may serve")
	}
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
		return nil, err
	}
	if p.sec, err = newSecurity(cfg.Security, secret, cfg.Role, cfg.Logger, cfg.Listen); err != nil {
		return fail(err)
	}
	mounts := &hdfsio.Mounts{DialHDFS: func(ctx context.Context, authority string) (hdfsio.FileSystem, error) {
		return dialHDFS(ctx, authority, cfg.HDFS)
	}}
	p.svc = &flight.Service{}
	if cfg.Role&RoleWorker != 0 {
		wc := cfg.Worker
		wc.Roots, wc.Secret, wc.Logger = roots, secret, cfg.Logger
		wc.DialOptions = append(wc.DialOptions, p.sec.peerDialOptions()...)
		if p.svc.Worker, err = flight.NewWorker(wc, mounts); err != nil {
			return fail(err)
		}
	}
	if err := p.join(secret); err != nil {
		return fail(err)
	}
	if cfg.Role&RoleCoordinator != 0 {
		cc := cfg.Coordinator
		cc.Roots, cc.Secret, cc.Logger = roots, secret, cfg.Logger
		cc.Locate = webHDFSLocator(cfg)
		cc.Self = p.Location()
		ws := &workerSet{m: p.member}
		if p.svc.Coordinator, err = flight.NewCoordinator(cc, mounts, ws); err != nil {
			p.member.Leave(ctx)
			return fail(err)
		}
		p.svc.ClusterStatus = func(ctx context.Context) any { return p.clusterStatus(withSecurity(ctx, p.sec)) }
		if cfg.ProbeInterval > 0 {
			p.probe = newProber(ws.gossipWorkers, cfg.ProbeInterval)
			ws.healthy = p.probe.healthy
			var pctx context.Context
			pctx, p.stop = context.WithCancel(withSecurity(context.Background(), p.sec))
			go p.probe.run(pctx)
		}
	}
	mw, sopts := p.sec.serverOptions()
	p.srv = flight.NewServer(p.svc, mw, sopts...)
	p.srv.InitListener(lis)
	go func() { p.served <- p.srv.Serve() }()
	if cfg.MetricsListen != "" {
		if err := p.serveMetrics(); err != nil {
			p.Shutdown(ctx)
			return nil, err
		}
	}
	p.log.Info("serving", "name", p.member.Name(), "flight", p.Location(), "gossip", p.member.Addr(), "roots", cfg.Roots)
	return p, nil
}

func (p *Process) join(secret []byte) error {
	host, port, err := net.SplitHostPort(p.addr)
	if err != nil {
		return fmt.Errorf("advertise address %q: %w", p.addr, err)
	}
	role := membership.RoleWorker
	switch p.cfg.Role {
	case RoleCoordinator:
		role = membership.RoleCoordinator
	case RoleStandalone:
		role = membership.RoleStandalone
	}
	mc := membership.DefaultConfig()
	mc.Name = p.cfg.Name
	if mc.Name == "" {
		mc.Name = fmt.Sprintf("%s-%s-%s", role, host, port)
	}
	gh, gp, err := net.SplitHostPort(p.cfg.GossipListen)
	if err != nil {
		return fmt.Errorf("gossip listen %q: %w", p.cfg.GossipListen, err)
	}
	mc.BindAddr = gh
	if mc.BindPort, err = strconv.Atoi(gp); err != nil {
		return fmt.Errorf("gossip listen %q: %w", p.cfg.GossipListen, err)
	}
	mc.AdvertiseAddr = p.cfg.GossipAdvertise
	mc.Join = p.cfg.Join
	mc.SecretKey = gossipKey(secret)
	mc.Local = p.cfg.LocalGossip
	mc.Logger = p.log
	hostName := p.cfg.Host
	if hostName == "" {
		hostName = host
	}
	mc.Meta = membership.Meta{Role: role, Flight: p.Location(), Host: hostName, Capacity: max(p.cfg.Capacity, 1), Version: Version}
	p.member, err = membership.New(mc)
	return err
}

func (p *Process) serveMetrics() error {
	lis, err := net.Listen("tcp", p.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", p.cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	p.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	p.metricsAddr = lis.Addr().String()
	go p.metrics.Serve(lis)
	return nil
}

// MetricsAddr is where /metrics is served ("" when disabled).
func (p *Process) MetricsAddr() string { return p.metricsAddr }

// Location is the Flight URI clients dial.
func (p *Process) Location() string { return p.sec.scheme() + "://" + p.addr }

// GossipAddr is the memberlist address others join.
func (p *Process) GossipAddr() string { return p.member.Addr() }

// Done delivers the Flight server's exit.
func (p *Process) Done() <-chan error { return p.served }

// Shutdown drains in-flight streams (bounded by DrainTimeout and ctx),
// leaves the gossip cluster and stops serving.
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
	if err := p.member.Leave(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leave gossip: %w", err))
	}
	p.srv.Shutdown()
	if p.metrics != nil {
		p.metrics.Close()
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
func webHDFSLocator(cfg Config) flight.Locator {
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
	healthy func(name string) bool
}

func (s *workerSet) LiveWorkers() []flight.WorkerInfo {
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
func (s *workerSet) gossipWorkers() []flight.WorkerInfo {
	var out []flight.WorkerInfo
	for _, n := range s.m.Nodes("") {
		if n.Meta.Role != membership.RoleWorker && n.Meta.Role != membership.RoleStandalone {
			continue
		}
		out = append(out, flight.WorkerInfo{Name: n.Name, Location: n.Meta.Flight, Host: n.Meta.Host, Capacity: n.Meta.Capacity})
	}
	return out
}

// MemberStatus is one member in the cluster-status action.
type MemberStatus struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Location string `json:"location"`
	Host     string `json:"host"`
	Capacity int    `json:"capacity"`
	Version  string `json:"version"`
	State    string `json:"state"`
	// Active is the worker's streams in flight (-1 when it did not answer).
	Active int64 `json:"active"`
}

// ClusterStatus is the cluster-status action's answer.
type ClusterStatus struct {
	Coordinator string         `json:"coordinator"`
	Workers     []MemberStatus `json:"workers"`
	Members     []MemberStatus `json:"members"`
}

func (p *Process) clusterStatus(ctx context.Context) any {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nodes := p.member.Nodes("")
	st := ClusterStatus{Coordinator: p.member.Name(), Workers: []MemberStatus{}, Members: make([]MemberStatus, len(nodes))}
	var wg sync.WaitGroup
	for i, n := range nodes {
		ms := MemberStatus{Name: n.Name, Role: n.Meta.Role, Location: n.Meta.Flight, Host: n.Meta.Host,
			Capacity: n.Meta.Capacity, Version: n.Meta.Version, State: "alive", Active: -1}
		if p.probe != nil && ms.State == "alive" && !p.probe.healthy(n.Name) {
			ms.State = "unreachable" // gossip still says alive; direct probes fail
		}
		st.Members[i] = ms
		if n.Meta.Role == membership.RoleCoordinator {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st.Members[i].Active = workerActive(ctx, st.Members[i].Location)
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
func workerActive(ctx context.Context, location string) int64 {
	fc, ctx, err := dialMember(ctx, location) // TLS and internal token: security.go
	if err != nil {
		return -1
	}
	defer fc.Close()
	s, err := fc.DoAction(ctx, &aflight.Action{Type: flight.ActionWorkerStatus})
	if err != nil {
		return -1
	}
	r, err := s.Recv()
	if err != nil {
		return -1
	}
	var ws flight.WorkerStatus
	if json.Unmarshal(r.GetBody(), &ws) != nil {
		return -1
	}
	return ws.Active
}

// Run starts a process and serves until ctx ends, then shuts down
// gracefully.
func Run(ctx context.Context, cfg Config) error {
	p, err := Start(ctx, cfg)
	if err != nil {
		return err
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
