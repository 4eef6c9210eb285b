package hdfsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/colinmarc/hdfs/v2"
	krb "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// ErrUnavailable is wrapped by errors that mean no NameNode could be reached
// (refused, timed out, connection lost). errors.Is(err, ErrUnavailable).
var ErrUnavailable = errors.New("namenode unavailable")

// HDFSConfig says how to reach one HDFS namespace. Fields left zero take the
// Hadoop configuration's value (Conf), then DefaultHDFSConfig's.
type HDFSConfig struct {
	// NameNodes are the RPC addresses (host:port) to dial; several for an HA
	// pair (the client fails over on StandbyException and on errors). Empty
	// means: resolve Authority through Conf.
	NameNodes []string
	// Authority is what origins carry after "hdfs://": the host:port or the
	// logical nameservice exactly as the user wrote it. Empty means
	// NameNodes[0].
	Authority string
	// User is the HDFS user for simple auth. Empty: $HADOOP_USER_NAME, then
	// the OS user. Ignored with Kerberos (the principal is the user).
	User string
	// Conf is the Hadoop client configuration (see LoadHadoopConfFromEnv).
	// It supplies nameservice resolution, dfs.client.use.datanode.hostname,
	// hadoop.security.authentication, dfs.namenode.kerberos.principal,
	// dfs.data.transfer.protection and dfs.encrypt.data.transfer.
	Conf HadoopConf

	// UseDatanodeHostname dials DataNodes by hostname rather than IP (also
	// set by dfs.client.use.datanode.hostname=true).
	UseDatanodeHostname bool
	// DataTransferProtection: "", "authentication", "integrity" or "privacy"
	// (overrides dfs.data.transfer.protection).
	DataTransferProtection string

	// Kerberos: either a ready client, or a ticket cache, or a keytab with
	// its principal. Krb5Conf defaults to $KRB5_CONFIG, then /etc/krb5.conf.
	KerberosClient    *krb.Client
	KerberosCCache    string // path to a ticket cache (kinit's, e.g. /tmp/krb5cc_1000)
	KerberosKeytab    string // path to a keytab
	KerberosPrincipal string // user@REALM for the keytab
	Krb5Conf          string
	// KerberosServicePrincipal is the NameNode's SPN, e.g. "nn/_HOST"
	// (overrides dfs.namenode.kerberos.principal; the realm is dropped).
	KerberosServicePrincipal string

	// DialTimeout bounds each TCP connect to a NameNode or DataNode.
	DialTimeout time.Duration
	// RPCTimeout bounds how long a NameNode or DataNode connection may stay
	// silent while we wait for it; past it the call fails (and the
	// connection is dropped) instead of hanging. A dead NameNode is reported
	// within about DialTimeout + RPCTimeout.
	RPCTimeout time.Duration
	// Connections is the number of NameNode connections used in parallel;
	// colinmarc/hdfs serialises the calls on one connection, so parallel
	// listing needs several.
	Connections int

	// Dial, when set, replaces the TCP dialer for NameNodes and DataNodes
	// (proxies, tests). Timeouts still apply.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultHDFSConfig returns the defaults: the Hadoop configuration from
// HADOOP_CONF_DIR / HADOOP_HOME (empty if there is none), 10 s dial timeout,
// 60 s RPC timeout, 8 NameNode connections.
func DefaultHDFSConfig() HDFSConfig {
	conf, _, err := LoadHadoopConfFromEnv()
	if err != nil {
		conf = HadoopConf{}
	}
	return HDFSConfig{
		Conf:        conf,
		DialTimeout: 10 * time.Second,
		RPCTimeout:  60 * time.Second,
		Connections: 8,
	}
}

// HDFS is a FileSystem over one HDFS namespace. It is safe for concurrent
// use; Close it when done.
type HDFS struct {
	cfg       HDFSConfig
	authority string
	nameNodes string // for error messages
	opts      hdfs.ClientOptions

	next    atomic.Uint64
	mu      sync.Mutex
	clients []*hdfs.Client // len == cfg.Connections; nil until first used
	closed  bool
}

var _ FileSystem = (*HDFS)(nil)

// DialHDFS connects to the namespace named by an hdfs:// authority (as in
// Location.Authority): a logical nameservice from base.Conf, or host[:port].
// It fits Mounts.DialHDFS:
//
//	m.DialHDFS = func(ctx context.Context, a string) (FileSystem, error) { return DialHDFS(ctx, a, cfg) }
func DialHDFS(ctx context.Context, authority string, base HDFSConfig) (*HDFS, error) {
	cfg := base
	cfg.Authority = authority
	cfg.NameNodes = nil
	if authority == "" {
		cfg.Authority = DefaultFSAuthority(base.Conf)
	}
	return NewHDFS(ctx, cfg)
}

// NewHDFS checks cfg, connects once to a NameNode (so a wrong address fails
// here, within DialTimeout) and returns the filesystem. Further NameNode
// connections are opened on demand.
func NewHDFS(ctx context.Context, cfg HDFSConfig) (*HDFS, error) {
	def := DefaultHDFSConfig()
	if cfg.Conf == nil {
		cfg.Conf = HadoopConf{}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = def.DialTimeout
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = def.RPCTimeout
	}
	if cfg.Connections <= 0 {
		cfg.Connections = def.Connections
	}
	if len(cfg.NameNodes) == 0 {
		nns, err := ResolveNameNodes(cfg.Conf, cfg.Authority)
		if err != nil {
			return nil, err
		}
		cfg.NameNodes = nns
	}
	if cfg.Authority == "" {
		cfg.Authority = cfg.NameNodes[0]
	}

	// Start from what the Hadoop configuration says (this also sets the
	// SASL privileged-port behaviour the Java client has), then override.
	opts := hdfs.ClientOptionsFromConf(cfg.Conf)
	opts.Addresses = cfg.NameNodes
	if cfg.UseDatanodeHostname {
		opts.UseDatanodeHostname = true
	}
	if cfg.DataTransferProtection != "" {
		opts.DataTransferProtection = cfg.DataTransferProtection
	}
	if cfg.KerberosServicePrincipal != "" {
		opts.KerberosServicePrincipleName = strings.Split(cfg.KerberosServicePrincipal, "@")[0]
	}
	kc, err := kerberosClient(cfg)
	if err != nil {
		return nil, err
	}
	if kc != nil {
		opts.KerberosClient = kc
		if opts.KerberosServicePrincipleName == "" {
			return nil, fmt.Errorf("hdfs://%s: Kerberos needs the NameNode principal (dfs.namenode.kerberos.principal or KerberosServicePrincipal)", cfg.Authority)
		}
	} else if opts.KerberosClient != nil {
		return nil, fmt.Errorf("hdfs://%s: hadoop.security.authentication is kerberos: set a keytab, a ticket cache or a Kerberos client", cfg.Authority)
	}
	if opts.KerberosClient == nil {
		opts.User = cfg.User
		if opts.User == "" {
			opts.User = os.Getenv("HADOOP_USER_NAME")
		}
		if opts.User == "" {
			u, err := user.Current()
			if err != nil {
				return nil, fmt.Errorf("hdfs: no HDFS user given and no OS user: %w", err)
			}
			opts.User = u.Username
		}
	}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	timed := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
		c, err := dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleTimeoutConn{Conn: c, idle: cfg.RPCTimeout}, nil
	}
	opts.NamenodeDialFunc = timed
	opts.DatanodeDialFunc = timed

	h := &HDFS{
		cfg:       cfg,
		authority: cfg.Authority,
		nameNodes: strings.Join(cfg.NameNodes, ","),
		opts:      opts,
		clients:   make([]*hdfs.Client, cfg.Connections),
	}
	if _, err := h.client(ctx, 0); err != nil {
		return nil, h.wrap("connect", "/", err)
	}
	return h, nil
}

// Authority is the host:port or nameservice origins carry.
func (h *HDFS) Authority() string { return h.authority }

// NameNodes are the RPC addresses in use.
func (h *HDFS) NameNodes() []string { return slices.Clone(h.cfg.NameNodes) }

// Config returns the effective configuration.
func (h *HDFS) Config() HDFSConfig { return h.cfg }

// URI renders name as Spark writes origins: hdfs://<authority><path>.
func (h *HDFS) URI(name string) string {
	return "hdfs://" + h.authority + cleanPath(name)
}

// Stat describes one file or directory.
func (h *HDFS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	name = cleanPath(name)
	var fi fs.FileInfo
	err := h.do(ctx, func(c *hdfs.Client) error {
		var err error
		fi, err = c.Stat(name)
		return err
	})
	if err != nil {
		return nil, h.wrap("stat", name, err)
	}
	return fi, nil
}

// ReadDir lists one directory, sorted by name.
func (h *HDFS) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	err := h.ReadDirPages(ctx, name, 0, func(page []fs.FileInfo) error {
		out = append(out, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// ReadDirPages lists one directory a page at a time (HDFS's own paging,
// dfs.ls.limit entries, 1000 by default, per NameNode call), so a directory
// of millions of files never has to sit in memory at once. Pages come in
// name order. pageSize <= 0 means one NameNode page. fn's error stops the
// listing and is returned as is.
func (h *HDFS) ReadDirPages(ctx context.Context, name string, pageSize int, fn func([]fs.FileInfo) error) error {
	name = cleanPath(name)
	if pageSize <= 0 {
		pageSize = 1000
	}
	var f *hdfs.FileReader
	err := h.do(ctx, func(c *hdfs.Client) error {
		var err error
		f, err = c.Open(name)
		return err
	})
	if err != nil {
		return h.wrap("readdir", name, err)
	}
	defer f.Close()
	if !f.Stat().IsDir() {
		return h.wrap("readdir", name, fmt.Errorf("not a directory: %w", fs.ErrInvalid))
	}
	for {
		var page []os.FileInfo
		err := h.doOn(ctx, func() error {
			var err error
			page, err = f.Readdir(pageSize)
			return err
		})
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return h.wrap("readdir", name, err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// Open opens a file for reading. The context's deadline applies to the
// whole read (DataNode connections get it as their deadline); cancelling
// the context fails the next Read. A DataNode that dies mid-read is skipped
// for another replica by colinmarc/hdfs.
func (h *HDFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	name = cleanPath(name)
	var f *hdfs.FileReader
	err := h.do(ctx, func(c *hdfs.Client) error {
		var err error
		f, err = c.Open(name)
		return err
	})
	if err != nil {
		return nil, h.wrap("open", name, err)
	}
	if f.Stat().IsDir() {
		f.Close()
		return nil, h.wrap("open", name, fmt.Errorf("is a directory: %w", fs.ErrInvalid))
	}
	if dl, ok := ctx.Deadline(); ok {
		f.SetDeadline(dl)
	}
	return &hdfsReader{h: h, ctx: ctx, f: f, name: name}, nil
}

// OpenFile is Open with the colinmarc reader (ReaderAt, Seeker) exposed.
// The caller handles deadlines (SetDeadline) itself.
func (h *HDFS) OpenFile(ctx context.Context, name string) (*hdfs.FileReader, error) {
	name = cleanPath(name)
	var f *hdfs.FileReader
	err := h.do(ctx, func(c *hdfs.Client) error {
		var err error
		f, err = c.Open(name)
		return err
	})
	if err != nil {
		return nil, h.wrap("open", name, err)
	}
	return f, nil
}

// Client returns one of the underlying colinmarc clients (for writes in
// tests and tools). Calls on it have no context.
func (h *HDFS) Client(ctx context.Context) (*hdfs.Client, error) {
	i := int(h.next.Add(1) % uint64(len(h.clients)))
	c, err := h.client(ctx, i)
	if err != nil {
		return nil, h.wrap("connect", "/", err)
	}
	return c, nil
}

// Close closes every NameNode connection. Readers still open fail.
func (h *HDFS) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for i, c := range h.clients {
		if c != nil {
			errs = append(errs, c.Close())
			h.clients[i] = nil
		}
	}
	return errors.Join(errs...)
}

type hdfsReader struct {
	h    *HDFS
	ctx  context.Context
	f    *hdfs.FileReader
	name string
}

func (r *hdfsReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, r.h.wrap("read", r.name, err)
	}
	n, err := r.f.Read(b)
	if err != nil && err != io.EOF {
		if cerr := r.ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return n, r.h.wrap("read", r.name, err)
	}
	return n, err
}

func (r *hdfsReader) Close() error { return r.f.Close() }

// client returns connection i, dialing it if needed.
func (h *HDFS) client(ctx context.Context, i int) (*hdfs.Client, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fs.ErrClosed
	}
	if c := h.clients[i]; c != nil {
		h.mu.Unlock()
		return c, nil
	}
	h.mu.Unlock()
	var c *hdfs.Client
	err := h.doOn(ctx, func() error {
		var err error
		c, err = hdfs.NewClient(h.opts)
		if err != nil {
			return err
		}
		// colinmarc caches the server defaults in the Client without a lock
		// on first use (every read asks for them): fetch them now, before
		// the client is shared, so concurrent reads do not race.
		if _, err = c.ServerDefaults(); err != nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return nil, fs.ErrClosed
	}
	if old := h.clients[i]; old != nil { // lost a race: keep the first
		c.Close()
		return old, nil
	}
	h.clients[i] = c
	return c, nil
}

// do runs op on the next NameNode connection, honouring ctx.
func (h *HDFS) do(ctx context.Context, op func(*hdfs.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	i := int(h.next.Add(1) % uint64(len(h.clients)))
	c, err := h.client(ctx, i)
	if err != nil {
		return err
	}
	return h.doOn(ctx, func() error { return op(c) })
}

// doOn runs fn, returning early with ctx's error if ctx ends first. fn is
// left to finish in the background: every colinmarc call is bounded by
// RPCTimeout, so it cannot leak for long.
func (h *HDFS) doOn(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() == nil {
		return fn()
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Error is what HDFS methods return: the operation, the file's URI and the
// NameNodes asked, around the cause (which wraps fs.ErrNotExist,
// fs.ErrPermission, ErrUnavailable, context errors, ...).
type Error struct {
	Op        string
	URI       string
	NameNodes string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("hdfs %s %s (namenode %s): %v", e.Op, e.URI, e.NameNodes, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (h *HDFS) wrap(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err // we name the path ourselves
	}
	if isUnavailable(err) && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &Error{Op: op, URI: h.URI(name), NameNodes: h.nameNodes, Err: err}
}

func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	return strings.Contains(err.Error(), "no available namenodes")
}

func cleanPath(name string) string {
	if name == "" {
		return "/"
	}
	return path.Clean("/" + name)
}

// idleTimeoutConn fails a Read or Write that sees no progress for idle, and
// closes the connection then, so a silent NameNode or DataNode gives an
// error instead of a hang (colinmarc/hdfs sets no deadline of its own on
// NameNode connections). Deadlines set by colinmarc still apply when
// earlier.
type idleTimeoutConn struct {
	net.Conn
	idle time.Duration

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func (c *idleTimeoutConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	d := earliest(c.readDeadline, time.Now().Add(c.idle))
	c.mu.Unlock()
	c.Conn.SetReadDeadline(d)
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.Conn.Close()
		err = fmt.Errorf("no answer from %s within %v: %w", c.RemoteAddr(), c.idle, err)
	}
	return n, err
}

func (c *idleTimeoutConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := earliest(c.writeDeadline, time.Now().Add(c.idle))
	c.mu.Unlock()
	c.Conn.SetWriteDeadline(d)
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.Conn.Close()
		err = fmt.Errorf("could not write to %s within %v: %w", c.RemoteAddr(), c.idle, err)
	}
	return n, err
}

func (c *idleTimeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleTimeoutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *idleTimeoutConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func earliest(user, idle time.Time) time.Time {
	if !user.IsZero() && user.Before(idle) {
		return user
	}
	return idle
}

func kerberosClient(cfg HDFSConfig) (*krb.Client, error) {
	if cfg.KerberosClient != nil {
		return cfg.KerberosClient, nil
	}
	if cfg.KerberosCCache == "" && cfg.KerberosKeytab == "" {
		return nil, nil
	}
	confPath := cfg.Krb5Conf
	if confPath == "" {
		confPath = os.Getenv("KRB5_CONFIG")
	}
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	kconf, err := krbconfig.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("kerberos config %s: %w", confPath, err)
	}
	if cfg.KerberosCCache != "" {
		cc, err := credentials.LoadCCache(strings.TrimPrefix(cfg.KerberosCCache, "FILE:"))
		if err != nil {
			return nil, fmt.Errorf("kerberos ticket cache %s: %w", cfg.KerberosCCache, err)
		}
		c, err := krb.NewFromCCache(cc, kconf, krb.DisablePAFXFAST(true))
		if err != nil {
			return nil, fmt.Errorf("kerberos ticket cache %s: %w", cfg.KerberosCCache, err)
		}
		return c, nil
	}
	princ, realm, ok := strings.Cut(cfg.KerberosPrincipal, "@")
	if !ok || princ == "" || realm == "" {
		return nil, fmt.Errorf("kerberos keytab %s needs KerberosPrincipal as user@REALM, got %q", cfg.KerberosKeytab, cfg.KerberosPrincipal)
	}
	kt, err := keytab.Load(cfg.KerberosKeytab)
	if err != nil {
		return nil, fmt.Errorf("kerberos keytab %s: %w", cfg.KerberosKeytab, err)
	}
	c := krb.NewWithKeytab(princ, realm, kt, kconf, krb.DisablePAFXFAST(true))
	if err := c.Login(); err != nil {
		return nil, fmt.Errorf("kerberos login as %s: %w", cfg.KerberosPrincipal, err)
	}
	return c, nil
}
