// Package cliconfig maps the command-line flags shared by cmd/coordinator
// and cmd/worker onto server.Config. Every flag can also be set through an
// IMAGEFLIGHT_* environment variable.
package cliconfig

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/urfave/cli/v2"
)

func env(name string) []string {
	return []string{"IMAGEFLIGHT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

// ServeFlags are the flags of a serving process; defListen and defGossip
// differ between coordinator and worker.
func ServeFlags(defListen, defGossip string) []cli.Flag {
	d := server.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: defListen, EnvVars: env("listen"), Usage: "Flight (gRPC) listen address host:port"},
		&cli.StringFlag{Name: "advertise", EnvVars: env("advertise"), Usage: "Flight address clients dial, if not the listen address"},
		&cli.StringFlag{Name: "unix-socket-dir", EnvVars: env("unix-socket-dir"), Usage: "also serve DoGet on a Unix domain socket in this folder (created 0750; must not be writable by others), advertised as an extra grpc+unix:// location that clients on this host prefer: less CPU per byte than loopback TCP. Not with --tls-cert"},
		&cli.StringFlag{Name: "gossip-listen", Value: defGossip, EnvVars: env("gossip-listen"), Usage: "memberlist gossip listen address host:port"},
		&cli.StringFlag{Name: "gossip-advertise", EnvVars: env("gossip-advertise"), Usage: "gossip address other members reach (host, or host:port), if not the listen address"},
		&cli.StringSliceFlag{Name: "join", EnvVars: env("join"), Usage: "gossip seed host:port to join (repeatable; workers point at the coordinator)"},
		&cli.StringSliceFlag{Name: "root", EnvVars: env("root"), Usage: "folder or hdfs:// path that may be served (repeatable); anything outside is refused"},
		&cli.StringFlag{Name: "name", EnvVars: env("name"), Usage: "unique member name (default: role-host-port)"},
		&cli.StringFlag{Name: "secret-file", Value: d.SecretFile, EnvVars: env("secret-file"), Usage: "cluster secret: signs tickets and encrypts gossip; the coordinator creates it if missing, workers need a copy"},
		&cli.StringFlag{Name: "host", EnvVars: env("host"), Usage: "host name matched against HDFS replica locations (default: advertise host)"},
		&cli.IntFlag{Name: "capacity", Value: d.Capacity, EnvVars: env("capacity"), Usage: "decode slots this process offers (default: cores)"},
		&cli.StringFlag{Name: "metrics-listen", EnvVars: env("metrics-listen"), Usage: "serve Prometheus /metrics on this address"},
		&cli.DurationFlag{Name: "drain-timeout", Value: d.DrainTimeout, EnvVars: env("drain-timeout"), Usage: "on SIGTERM, how long in-flight streams may finish"},
		&cli.Int64Flag{Name: "max-pixels", Value: d.Worker.Decode.MaxPixels, EnvVars: env("max-pixels"), Usage: "largest image (height*width) decoded; larger ones become invalid rows before any pixel memory is allocated"},
		&cli.Int64Flag{Name: "batch-bytes", Value: d.Worker.BatchBytes, EnvVars: env("batch-bytes"), Usage: "target Arrow batch size in bytes (one larger image still goes alone)"},
		&cli.IntFlag{Name: "decoders", Value: d.Worker.Parallelism, EnvVars: env("decoders"), Usage: "concurrent decodes across all streams of this worker (default: cores)"},
		&cli.IntFlag{Name: "max-streams", EnvVars: env("max-streams"), Usage: "streams a worker serves at once; more wait their turn (default: 4 per decoder)"},
		&cli.Int64Flag{Name: "plan-store-bytes", Value: d.Coordinator.PlanStoreBytes, EnvVars: env("plan-store-bytes"), Usage: "bytes of packed file lists the coordinator keeps for plans too large for FlightInfo; the oldest plans are evicted first"},
		&cli.Int64Flag{Name: "memory-budget", Value: d.Worker.MemoryBudget, EnvVars: env("memory-budget"), Usage: "bytes of images a worker holds at once (being read and decoded, waiting, in unsent batches); decodes wait for room, one larger image goes alone (default: half the machine's or cgroup's memory, at least 256 MiB)"},
		&cli.DurationFlag{Name: "send-timeout", Value: d.Worker.SendTimeout, EnvVars: env("send-timeout"), Usage: "a stream whose client reads nothing for this long fails (DeadlineExceeded), freeing its slot and memory"},
		&cli.StringFlag{Name: "onnxruntime-library", EnvVars: env("onnxruntime-library"), Usage: "ONNX Runtime's shared library (libonnxruntime.so.*, e.g. from `pip install onnxruntime`: onnxruntime/capi/) for reads with a model; default: search the loader path, the active virtualenv and beside the binary (docs/models.md)"},
		&cli.IntFlag{Name: "model-threads", Value: d.Worker.Model.Threads, EnvVars: env("model-threads"), Usage: "intra-op threads of each model call; a worker runs at most decoders / threads calls at once, on one session per model shared by all streams"},
		&cli.Int64Flag{Name: "model-cache-bytes", Value: d.Worker.Model.CacheBytes, EnvVars: env("model-cache-bytes"), Usage: "bytes of models whose sessions a worker keeps open between reads (a model in use stays open)"},
		&cli.IntFlag{Name: "max-concurrent-plans", Value: d.Coordinator.MaxConcurrentPlans, EnvVars: env("max-concurrent-plans"), Usage: "plans (GetFlightInfo, GetSchema: listing through the stored FlightInfo) a coordinator runs at once; more wait up to 30s, then answer ResourceExhausted"},
		&cli.IntFlag{Name: "max-flightinfo-bytes", Value: d.Coordinator.MaxInfoBytes, EnvVars: env("max-flightinfo-bytes"), Usage: "largest FlightInfo with inline file lists; larger plans stay on the coordinator and workers fetch their splits"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("log-level"), Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "hadoop-conf-dir", EnvVars: append(env("hadoop-conf-dir"), "HADOOP_CONF_DIR"), Usage: "folder with core-site.xml and hdfs-site.xml (nameservices, HA NameNodes, security settings)"},
		&cli.StringSliceFlag{Name: "hdfs-namenode", EnvVars: env("hdfs-namenode"), Usage: "NameNode RPC host:port serving hdfs:// paths (repeatable for an HA pair); default: resolve the URI's authority via the Hadoop configuration"},
		&cli.StringSliceFlag{Name: "hdfs-namenode-http", EnvVars: env("hdfs-namenode-http"), Usage: "NameNode HTTP host:port for block locations (WebHDFS); default: from the Hadoop configuration, else host:9870"},
		&cli.StringFlag{Name: "hdfs-user", EnvVars: append(env("hdfs-user"), "HADOOP_USER_NAME"), Usage: "HDFS user for simple authentication (default: the OS user)"},
		&cli.DurationFlag{Name: "hdfs-dial-timeout", Value: d.HDFS.DialTimeout, EnvVars: env("hdfs-dial-timeout"), Usage: "bound on connecting to a NameNode or DataNode"},
		&cli.DurationFlag{Name: "hdfs-rpc-timeout", Value: d.HDFS.RPCTimeout, EnvVars: env("hdfs-rpc-timeout"), Usage: "bound on a silent NameNode or DataNode connection"},
		&cli.StringFlag{Name: "hdfs-data-transfer-protection", EnvVars: env("hdfs-data-transfer-protection"), Usage: "authentication, integrity or privacy (overrides dfs.data.transfer.protection)"},
		&cli.StringFlag{Name: "kerberos-keytab", EnvVars: env("kerberos-keytab"), Usage: "keytab for HDFS Kerberos authentication (with --kerberos-principal)"},
		&cli.StringFlag{Name: "kerberos-principal", EnvVars: env("kerberos-principal"), Usage: "user@REALM for --kerberos-keytab"},
		&cli.StringFlag{Name: "kerberos-ccache", EnvVars: append(env("kerberos-ccache"), "KRB5CCNAME"), Usage: "Kerberos ticket cache (kinit's), instead of a keytab"},
		&cli.StringFlag{Name: "krb5-conf", EnvVars: append(env("krb5-conf"), "KRB5_CONFIG"), Usage: "krb5.conf path (default /etc/krb5.conf)"},
		&cli.BoolFlag{Name: "local-gossip", EnvVars: env("local-gossip"), Usage: "loopback gossip timings (faster failure detection; for tests and single hosts)"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: env("tls-cert"), Usage: "PEM certificate (chain) to serve Flight over TLS; with --tls-key. Locations become grpc+tls://"},
		&cli.StringFlag{Name: "tls-key", EnvVars: env("tls-key"), Usage: "PEM private key of --tls-cert"},
		&cli.StringFlag{Name: "tls-ca", EnvVars: env("tls-ca"), Usage: "PEM CA bundle verifying other members' TLS certificates (default: system roots)"},
		&cli.StringFlag{Name: "auth-users-file", EnvVars: env("auth-users-file"), Usage: "require authentication: lines user:hash (bcrypt, e.g. from `htpasswd -nBC 12 user`, or $pbkdf2-sha256$rounds$salt$hash); Flight basic-auth handshake answers a bearer token"},
		&cli.BoolFlag{Name: "auth", EnvVars: env("auth"), Usage: "require bearer tokens (implied by --auth-users-file); a worker without a users file accepts the coordinator's tokens"},
		&cli.DurationFlag{Name: "auth-token-ttl", Value: server.DefaultTokenTTL, EnvVars: env("auth-token-ttl"), Usage: "validity of tokens issued by the handshake"},
	}
}

// Config builds a server.Config for role from parsed flags; Start
// validates it.
func Config(c *cli.Context, role server.Role) (server.Config, error) {
	cfg := server.DefaultConfig()
	cfg.Role = role
	cfg.Listen = c.String("listen")
	cfg.Advertise = c.String("advertise")
	cfg.UnixSocketDir = c.String("unix-socket-dir")
	cfg.GossipListen = c.String("gossip-listen")
	cfg.GossipAdvertise = c.String("gossip-advertise")
	cfg.Join = c.StringSlice("join")
	cfg.Roots = c.StringSlice("root")
	cfg.Name = c.String("name")
	cfg.SecretFile = c.String("secret-file")
	cfg.Host = c.String("host")
	cfg.Capacity = c.Int("capacity")
	cfg.MetricsListen = c.String("metrics-listen")
	cfg.DrainTimeout = c.Duration("drain-timeout")
	cfg.Worker.Decode.MaxPixels = c.Int64("max-pixels")
	cfg.Worker.BatchBytes = c.Int64("batch-bytes")
	cfg.Worker.Parallelism = c.Int("decoders")
	cfg.Worker.MaxStreams = 4 * cfg.Worker.Parallelism
	if c.IsSet("max-streams") {
		cfg.Worker.MaxStreams = c.Int("max-streams")
	}
	cfg.Coordinator.PlanStoreBytes = c.Int64("plan-store-bytes")
	cfg.Coordinator.MaxInfoBytes = c.Int("max-flightinfo-bytes")
	cfg.Coordinator.MaxConcurrentPlans = c.Int("max-concurrent-plans")
	cfg.Worker.MemoryBudget = c.Int64("memory-budget")
	cfg.Worker.SendTimeout = c.Duration("send-timeout")
	cfg.Worker.Model.Library = c.String("onnxruntime-library")
	cfg.Worker.Model.Threads = c.Int("model-threads")
	cfg.Worker.Model.CacheBytes = c.Int64("model-cache-bytes")
	cfg.LocalGossip = c.Bool("local-gossip")
	cfg.Security = server.SecurityConfig{TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key"), TLSCA: c.String("tls-ca"),
		AuthUsersFile: c.String("auth-users-file"), Auth: c.Bool("auth"), TokenTTL: c.Duration("auth-token-ttl")}
	if err := hdfsConfig(c, &cfg); err != nil {
		return cfg, err
	}
	log, err := Logger(c.String("log-level"))
	if err != nil {
		return cfg, err
	}
	cfg.Logger = log
	return cfg, nil
}

// ClientFlags are the TLS and authentication flags of commands that call a
// cluster (read, status); apply them with ClientSecurity.
func ClientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", EnvVars: env("tls-ca"), Usage: "PEM CA bundle verifying grpc+tls:// servers (default: system roots)"},
		&cli.StringFlag{Name: "tls-server-name", EnvVars: env("tls-server-name"), Usage: "name expected in server certificates (default: each location's host)"},
		&cli.StringFlag{Name: "user", EnvVars: env("user"), Usage: "authenticate as this user (password from --password-file or IMAGEFLIGHT_PASSWORD)"},
		&cli.StringFlag{Name: "password-file", EnvVars: env("password-file"), Usage: "file holding the password of --user"},
	}
}

// ClientSecurity applies ClientFlags to a client configuration.
func ClientSecurity(c *cli.Context, cfg *client.Config) error {
	cfg.TLSCAFile = c.String("tls-ca")
	cfg.TLSServerName = c.String("tls-server-name")
	cfg.Username = c.String("user")
	if cfg.Username == "" {
		return nil
	}
	cfg.Password = os.Getenv("IMAGEFLIGHT_PASSWORD")
	if f := c.String("password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	return nil
}

// Serve builds the config for role from parsed flags, lets each of adjust
// add what only its command knows, and runs the process until SIGINT or
// SIGTERM, then shuts it down gracefully.
func Serve(c *cli.Context, role server.Role, adjust ...func(*server.Config)) error {
	cfg, err := Config(c, role)
	if err != nil {
		return err
	}
	for _, a := range adjust {
		a(&cfg)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, cfg)
}

// Logger returns a text logger on stderr at the named level.
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func hdfsConfig(c *cli.Context, cfg *server.Config) error {
	h := &cfg.HDFS
	if dir := c.String("hadoop-conf-dir"); dir != "" {
		conf, err := hdfsio.LoadHadoopConf(dir)
		if err != nil {
			return fmt.Errorf("--hadoop-conf-dir: %w", err)
		}
		h.Conf = conf
	}
	h.NameNodes = c.StringSlice("hdfs-namenode")
	cfg.NameNodeHTTP = c.StringSlice("hdfs-namenode-http")
	h.User = c.String("hdfs-user")
	h.DialTimeout = c.Duration("hdfs-dial-timeout")
	h.RPCTimeout = c.Duration("hdfs-rpc-timeout")
	h.DataTransferProtection = c.String("hdfs-data-transfer-protection")
	h.KerberosKeytab = c.String("kerberos-keytab")
	h.KerberosPrincipal = c.String("kerberos-principal")
	h.KerberosCCache = c.String("kerberos-ccache")
	h.Krb5Conf = c.String("krb5-conf")
	if (h.KerberosKeytab == "") != (h.KerberosPrincipal == "") {
		return fmt.Errorf("--kerberos-keytab and --kerberos-principal go together")
	}
	return nil
}
