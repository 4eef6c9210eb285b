package hdfsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colinmarc/hdfs/v2"
	krb "github.com/jcmturner/gokrb5/v8/client"
)

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
	if err := setAuth(&opts, cfg); err != nil {
		return nil, err
	}
	opts.NamenodeDialFunc = dialer(cfg)
	opts.DatanodeDialFunc = opts.NamenodeDialFunc

	h := &HDFS{
		cfg:       cfg,
		authority: cfg.Authority,
		nameNodes: strings.Join(cfg.NameNodes, ","),
		opts:      opts,
		clients:   make([]*hdfs.Client, cfg.Connections),
	}
	if _, err := h.client(ctx, 0); err != nil {
		return nil, h.wrap("connect", "/", simpleAuthRefused(opts, err))
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
	f, err := h.open(ctx, name)
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
	f, err := h.open(ctx, name)
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
	f, err := h.open(ctx, name)
	if err != nil {
		return nil, h.wrap("open", name, err)
	}
	return f, nil
}

// open opens name on the next NameNode connection, honouring ctx.
func (h *HDFS) open(ctx context.Context, name string) (*hdfs.FileReader, error) {
	var f *hdfs.FileReader
	err := h.do(ctx, func(c *hdfs.Client) error {
		var err error
		f, err = c.Open(name)
		return err
	})
	if err != nil {
		// f is not read here: after ctx ended, the call may still set it.
		return nil, err
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

// Stat returns the open file's facts as the NameNode gave them at open,
// as *os.File's Stat does for local files.
func (r *hdfsReader) Stat() (fs.FileInfo, error) { return r.f.Stat(), nil }

func cleanPath(name string) string {
	if name == "" {
		return "/"
	}
	return path.Clean("/" + name)
}
