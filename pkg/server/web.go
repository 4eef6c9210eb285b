package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// webCookie carries a console session: a bearer token minted at a Basic
// login, so a password hash is checked once per login, not per page.
const webCookie = "imageflight_token"

// serveHTTP starts the HTTP listeners: /metrics on MetricsListen, and the
// console (Config.Console) on HTTPListen, or on MetricsListen beside
// /metrics. The console is behind the Flight TLS and authentication: with
// TLS on, its listener serves only TLS (a shared metrics listener too);
// with auth on, every console page needs credentials. /metrics stays open,
// as Prometheus scrapers expect, and shows counters only.
func (p *Process) serveHTTP() error {
	var console http.Handler
	if p.cfg.Console != nil && (p.cfg.HTTPListen != "" || p.cfg.MetricsListen != "") {
		h, err := p.cfg.Console(p)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		console = p.sec.protectHTTP(h)
	}
	if p.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		withConsole := console != nil && p.cfg.HTTPListen == ""
		if withConsole {
			mux.Handle("/", console)
		}
		srv, addr, err := p.listenHTTP("metrics", p.cfg.MetricsListen, mux, withConsole)
		if err != nil {
			return err
		}
		p.metrics, p.metricsAddr = srv, addr
		if withConsole {
			p.consoleAddr = addr
		}
	}
	if console != nil && p.cfg.HTTPListen != "" {
		srv, addr, err := p.listenHTTP("console", p.cfg.HTTPListen, console, true)
		if err != nil {
			return err
		}
		p.console, p.consoleAddr = srv, addr
	}
	return nil
}

func (p *Process) listenHTTP(what, addr string, h http.Handler, secure bool) (*http.Server, string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s listen %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if secure && p.sec.serverTLS != nil {
		lis = tls.NewListener(lis, p.sec.serverTLS.Clone())
	}
	if secure && p.sec.validator != nil && p.sec.serverTLS == nil && !loopback(addr) {
		p.log.Warn("console with authentication but without TLS: passwords cross the network in clear text; set --tls-cert and --tls-key")
	}
	go srv.Serve(lis)
	return srv, lis.Addr().String(), nil
}

// ConsoleURL is where the console is served ("" when it is not).
func (p *Process) ConsoleURL() string {
	if p.consoleAddr == "" {
		return ""
	}
	if p.sec.serverTLS != nil {
		return "https://" + p.consoleAddr
	}
	return "http://" + p.consoleAddr
}

// protectHTTP lets a request through when auth is off, or when it carries
// a valid token (the session cookie, or "Authorization: Bearer" with a
// token from the Flight handshake), or valid Basic credentials from the
// users file, which start a session. Anything else is refused with 401.
func (s *security) protectHTTP(h http.Handler) http.Handler {
	if s.validator == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(webCookie); err == nil {
			if _, err := s.tokens.verify(c.Value); err == nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		authz := r.Header.Get("Authorization")
		if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
			if _, err := s.tokens.verify(tok); err == nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		if user, pw, ok := r.BasicAuth(); ok {
			if tok, err := s.validator.Validate(user, pw); err == nil {
				http.SetCookie(w, &http.Cookie{Name: webCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.serverTLS != nil,
					SameSite: http.SameSiteStrictMode, MaxAge: int(s.validator.ttl.Seconds())})
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="imageflight", charset="UTF-8"`)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "authentication required: log in with a user of the coordinator's --auth-users-file", http.StatusUnauthorized)
	})
}

// Roots are the locations this process may list and serve.
func (p *Process) Roots() hdfsio.Roots { return p.roots }

// Mounts hands out the file systems beneath the roots (local reads stay
// beneath them; HDFS is dialed on first use).
func (p *Process) Mounts() *hdfsio.Mounts { return p.mounts }

// RecentPlans are the coordinator's last plans, newest first (nil on a
// worker).
func (p *Process) RecentPlans() []planner.PlanRecord {
	if p.svc.Coordinator == nil {
		return nil
	}
	return p.svc.Coordinator.RecentPlans()
}

// SelfClient is a Flight client of this process's own location, calling as
// the member itself (its internal token, its TLS roots), for reads the
// process makes on its own behalf (the console's thumbnails). Close it
// when done.
func (p *Process) SelfClient() *client.Client {
	cfg := client.DefaultConfig(p.Location())
	cfg.TLSRootCAs = p.sec.roots
	cfg.DialOptions = []grpc.DialOption{grpc.WithPerRPCCredentials(internalCreds{p.sec})}
	return client.New(cfg)
}
