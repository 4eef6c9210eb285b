package server

// Transport security and client authentication of the Flight servers.
//
// TLS: --tls-cert/--tls-key make a process serve grpc+tls:// and advertise
// that scheme in gossip, so endpoints name TLS locations. --tls-ca is the
// CA bundle this process trusts when it dials other members (coordinator →
// worker status probes, worker → coordinator split fetches).
//
// Auth: Flight's basic-auth handshake answers a bearer token; every other
// call must carry "authorization: Bearer <token>". A token is
//
//	base64url("ift1|" user "|" expiry-unix-seconds) "." base64url(HMAC-SHA256(k, payload))
//
// with k derived from the cluster secret (domain-separated from ticket
// signing and the gossip key), so any member verifies a token the
// coordinator issued without a shared session store. Members call each
// other with short-lived tokens they mint themselves.

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/peer"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// DefaultTokenTTL is how long a bearer token from the handshake is valid.
const DefaultTokenTTL = 12 * time.Hour

// internalTokenTTL bounds the tokens members mint for calling each other.
const internalTokenTTL = 2 * time.Minute

// Identities of member-to-member calls; user names starting with
// "imageflight-" are reserved for them.
const (
	InternalCoordinatorUser = "imageflight-coordinator"
	InternalWorkerUser      = "imageflight-worker"
	reservedUserPrefix      = "imageflight-"
)

// SecurityConfig is a process's TLS and authentication. The zero value is
// plaintext without authentication (tickets are signed and gossip is
// encrypted regardless).
type SecurityConfig struct {
	// TLSCert and TLSKey are PEM files; set both to serve TLS.
	TLSCert, TLSKey string
	// TLSCA is a PEM bundle verifying other members' certificates when this
	// process dials them (default: the system roots).
	TLSCA string
	// AuthUsersFile lists "user:hash" lines (bcrypt "$2b$…" or passlib's
	// "$pbkdf2-sha256$rounds$salt$hash"); setting it turns auth on and lets
	// this process answer basic-auth handshakes.
	AuthUsersFile string
	// Auth requires bearer tokens even without a users file (a worker that
	// only verifies tokens the coordinator issued).
	Auth bool
	// TokenTTL is the validity of handshake tokens (default DefaultTokenTTL).
	TokenTTL time.Duration
}

// AuthEnabled reports whether calls need a bearer token.
func (c SecurityConfig) AuthEnabled() bool { return c.Auth || c.AuthUsersFile != "" }

// security is a process's TLS material and token authority.
type security struct {
	serverTLS *tls.Config    // nil: plaintext
	roots     *x509.CertPool // nil: system roots
	tokens    *tokenAuthority
	validator *authValidator // nil: auth off
	user      string         // identity of this process's own calls
}

// newSecurity loads certificates and users. role selects the identity of
// this process's calls to other members.
func newSecurity(cfg SecurityConfig, secret []byte, role Role, log *slog.Logger, listen string) (*security, error) {
	s := &security{tokens: newTokenAuthority(secret), user: InternalWorkerUser}
	if role&RoleCoordinator != 0 {
		s.user = InternalCoordinatorUser
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		s.serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.TLSCA != "" {
		pool, err := loadCertPool(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		s.roots = pool
	}
	if cfg.AuthEnabled() {
		ttl := cfg.TokenTTL
		if ttl <= 0 {
			ttl = DefaultTokenTTL
		}
		s.validator = &authValidator{tokens: s.tokens, ttl: ttl}
		if cfg.AuthUsersFile != "" {
			users, err := LoadUsers(cfg.AuthUsersFile)
			if err != nil {
				return nil, err
			}
			s.validator.users = users
		}
		s.validator.dummy = dummyHashFor(s.validator.users)
		if s.serverTLS == nil && log != nil && !loopback(listen) {
			log.Warn("authentication without TLS: passwords and tokens cross the network in clear text; set --tls-cert and --tls-key")
		}
	}
	return s, nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadCertPool reads a PEM bundle.
func loadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// scheme is the Flight URI scheme this process serves.
func (s *security) scheme() string {
	if s != nil && s.serverTLS != nil {
		return "grpc+tls"
	}
	return "grpc"
}

// serverOptions are the Flight server's middleware and grpc options.
func (s *security) serverOptions() ([]aflight.ServerMiddleware, []grpc.ServerOption) {
	var (
		mw   []aflight.ServerMiddleware
		opts []grpc.ServerOption
	)
	if s.serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.serverTLS)))
	}
	if s.validator != nil {
		mw = append(mw, aflight.CreateServerBasicAuthMiddleware(s.validator))
	}
	return mw, opts
}

// peerConfig is how this process calls other members: their TLS
// certificates checked against --tls-ca, and a fresh internal token on
// every call.
func (s *security) peerConfig() peer.Config {
	return peer.Config{TLS: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}, PerRPC: internalCreds{s}}
}

// internalCreds attaches a short-lived token minted with the cluster secret.
type internalCreds struct{ s *security }

func (c internalCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + c.s.internalToken()}, nil
}

func (internalCreds) RequireTransportSecurity() bool { return false }

func (s *security) internalToken() string {
	return s.tokens.mint(s.user, time.Now().Add(internalTokenTTL))
}

// --- tokens ---------------------------------------------------------------

const tokenVersion = "ift1"

// tokenAuthority mints and verifies bearer tokens with a key derived from
// the cluster secret.
type tokenAuthority struct {
	key []byte
	now func() time.Time
}

func newTokenAuthority(secret []byte) *tokenAuthority {
	k := sha256.Sum256(append([]byte("imageflight auth token\x00"), secret...))
	return &tokenAuthority{key: k[:], now: time.Now}
}

func (t *tokenAuthority) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(payload)
	return m.Sum(nil)
}

func (t *tokenAuthority) mint(user string, expires time.Time) string {
	payload := []byte(tokenVersion + "|" + user + "|" + strconv.FormatInt(expires.Unix(), 10))
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(t.mac(payload))
}

// Errors of token verification (wrapped in Unauthenticated statuses).
var (
	errBadToken     = errors.New("invalid token (malformed, altered, or issued by another cluster); authenticate again")
	errTokenExpired = errors.New("token expired; authenticate again")
)

// verify returns the user of a valid, unexpired token.
func (t *tokenAuthority) verify(token string) (string, error) {
	p64, m64, ok := strings.Cut(token, ".")
	if !ok {
		return "", errBadToken
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	sig, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, t.mac(payload)) {
		return "", errBadToken
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 3 || parts[0] != tokenVersion || parts[1] == "" {
		return "", errBadToken
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", errBadToken
	}
	if !t.now().Before(time.Unix(exp, 0)) {
		return "", errTokenExpired
	}
	return parts[1], nil
}

// --- basic-auth validator ---------------------------------------------------

// authValidator is arrow-go's BasicAuthValidator: Validate answers the
// handshake, IsValid checks every other call's bearer token.
type authValidator struct {
	users  map[string]string // user → password hash; nil: no handshakes here
	tokens *tokenAuthority
	ttl    time.Duration
	dummy  func() string // hash checked for unknown users (dummyHashFor)
}

// Validate checks a user's password and issues a token.
func (v *authValidator) Validate(user, password string) (string, error) {
	if v.users == nil {
		return "", status.Error(codes.Unauthenticated, "this process has no users (--auth-users-file); authenticate with the coordinator and use its token here")
	}
	hash, ok := v.users[user]
	if !ok {
		passwordCheck(v.dummy(), password) // same cost as a known user
		return "", status.Error(codes.Unauthenticated, "invalid username or password")
	}
	if !passwordCheck(hash, password) {
		return "", status.Error(codes.Unauthenticated, "invalid username or password")
	}
	return v.tokens.mint(user, v.tokens.now().Add(v.ttl)), nil
}

// IsValid verifies a bearer token; the identity is the user name.
func (v *authValidator) IsValid(token string) (any, error) {
	user, err := v.tokens.verify(token)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return user, nil
}

// passwordCheck verifies a password against a hash (tests count calls).
var passwordCheck = checkPassword

// dummyHashFor returns, made once on first use, a hash of the same scheme
// and cost as the users' own (the first user's, by name), so that logging
// in as an unknown user costs what a known user's does and login time does
// not tell which users exist.
func dummyHashFor(users map[string]string) func() string {
	return sync.OnceValue(func() string {
		const pw = "imageflight: no such user"
		var like string
		for _, u := range slices.Sorted(maps.Keys(users)) {
			like = users[u]
			break
		}
		if strings.HasPrefix(like, pbkdf2Prefix) {
			if rounds, _, _, err := parsePBKDF2(like); err == nil {
				if h, err := hashPBKDF2(pw, rounds); err == nil {
					return h
				}
			}
		}
		cost, err := bcrypt.Cost([]byte(like))
		if err != nil {
			cost = bcryptCost
		}
		h, _ := bcrypt.GenerateFromPassword([]byte(pw), cost)
		return string(h)
	})
}

// --- users file -------------------------------------------------------------

const (
	// bcryptCost is HashPassword's cost: ~0.3 s per check on one idle
	// core, slow for offline guessing, bearable once per client login.
	bcryptCost   = 12
	pbkdf2Prefix = "$pbkdf2-sha256$"
	// MinPBKDF2Rounds is the fewest PBKDF2 rounds a users file may use:
	// fewer make offline guessing of a leaked file cheap.
	MinPBKDF2Rounds = 10000
)

// HashPassword returns a bcrypt hash at the production cost (12) for a
// users-file line "user:hash".
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	return string(h), err
}

// HashPasswordPBKDF2 returns a PBKDF2-SHA256 hash with the given rounds (at
// least MinPBKDF2Rounds) in passlib's format. The hash records its rounds,
// so verification works at any cost. Tests whose subject is not the hash
// cost use MinPBKDF2Rounds: a login then takes milliseconds even under the
// race detector on a loaded machine, where one bcrypt check at cost 12
// takes ~10 s.
func HashPasswordPBKDF2(password string, rounds int) (string, error) {
	if rounds < MinPBKDF2Rounds {
		return "", fmt.Errorf("pbkdf2 hash: %d rounds, need at least %d", rounds, MinPBKDF2Rounds)
	}
	return hashPBKDF2(password, rounds)
}

// LoadUsers reads a users file: one "user:hash" per line, '#' comments and
// blank lines ignored. Hashes are bcrypt ("$2a$", "$2b$", "$2y$", as
// `htpasswd -nBC 12 user` prints) or PBKDF2-SHA256 in passlib's format
// "$pbkdf2-sha256$rounds$salt$hash" (adapted base64, rounds ≥ 10000).
func LoadUsers(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-users-file: %w", err)
	}
	users := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("--auth-users-file %s line %d", path, i+1)
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "" || hash == "":
			return nil, fmt.Errorf("%s: want user:hash", where)
		case strings.ContainsAny(user, "|: \t"):
			return nil, fmt.Errorf("%s: user %q may not contain '|', ':' or spaces", where, user)
		case strings.HasPrefix(user, reservedUserPrefix):
			return nil, fmt.Errorf("%s: user names starting with %q are reserved for members", where, reservedUserPrefix)
		case users[user] != "":
			return nil, fmt.Errorf("%s: user %q listed twice", where, user)
		}
		if err := checkHashFormat(hash); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		users[user] = hash
	}
	return users, nil
}

func checkHashFormat(hash string) error {
	if strings.HasPrefix(hash, pbkdf2Prefix) {
		_, _, _, err := parsePBKDF2(hash)
		return err
	}
	if strings.HasPrefix(hash, "$2") {
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return fmt.Errorf("bcrypt hash: %v", err)
		}
		if cost < bcrypt.DefaultCost {
			return fmt.Errorf("bcrypt hash: cost %d, need at least %d", cost, bcrypt.DefaultCost)
		}
		return nil
	}
	return errors.New("unknown hash format: use bcrypt ($2b$…) or $pbkdf2-sha256$rounds$salt$hash, never a plain password")
}

// ab64 is passlib's "adapted base64": '.' for '+', no padding.
func ab64Decode(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
}

func ab64Encode(b []byte) string {
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".")
}

func parsePBKDF2(hash string) (rounds int, salt, sum []byte, err error) {
	parts := strings.Split(strings.TrimPrefix(hash, pbkdf2Prefix), "$")
	if len(parts) != 3 {
		return 0, nil, nil, errors.New("pbkdf2 hash: want $pbkdf2-sha256$rounds$salt$hash")
	}
	if rounds, err = strconv.Atoi(parts[0]); err != nil || rounds < MinPBKDF2Rounds {
		return 0, nil, nil, fmt.Errorf("pbkdf2 hash: rounds %q: need at least %d", parts[0], MinPBKDF2Rounds)
	}
	if salt, err = ab64Decode(parts[1]); err != nil || len(salt) < 8 {
		return 0, nil, nil, errors.New("pbkdf2 hash: salt: want at least 8 bytes, adapted base64")
	}
	if sum, err = ab64Decode(parts[2]); err != nil || len(sum) != sha256.Size {
		return 0, nil, nil, errors.New("pbkdf2 hash: want a 32-byte hash, adapted base64")
	}
	return rounds, salt, sum, nil
}

// hashPBKDF2 returns a passlib-format PBKDF2-SHA256 hash (tests, and users
// without bcrypt tools).
func hashPBKDF2(password string, rounds int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := pbkdf2.Key(sha256.New, password, salt, rounds, sha256.Size)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d$%s$%s", pbkdf2Prefix, rounds, ab64Encode(salt), ab64Encode(sum)), nil
}

func checkPassword(hash, password string) bool {
	if strings.HasPrefix(hash, pbkdf2Prefix) {
		rounds, salt, sum, err := parsePBKDF2(hash)
		if err != nil {
			return false
		}
		got, err := pbkdf2.Key(sha256.New, password, salt, rounds, sha256.Size)
		return err == nil && subtle.ConstantTimeCompare(got, sum) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
