package hdfsio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"
)

// Block locations come from WebHDFS on the NameNode's HTTP port:
// colinmarc/hdfs has no public block-location call. Callers (the planner)
// treat any error as "no locality" and say so in a log line.

// BlockLocation is one block of a file and the DataNodes holding a replica.
type BlockLocation struct {
	Offset int64
	Length int64
	// Hosts are the DataNodes' host names as the NameNode knows them.
	Hosts []string
	// Names are the DataNodes' transfer addresses (ip:port).
	Names []string
}

// WebHDFS asks a NameNode's HTTP endpoint for block locations.
type WebHDFS struct {
	// Addrs are NameNode HTTP addresses (host:port), tried in order (an HA
	// pair's standby refuses; the next one is asked). See
	// ResolveNameNodeHTTP.
	Addrs []string
	// User is sent as user.name (simple auth). Empty: $HADOOP_USER_NAME,
	// then the OS user.
	User string
	// Client defaults to an http.Client with a 10 s timeout.
	Client *http.Client
	// HTTPS uses https:// (dfs.http.policy=HTTPS_ONLY).
	HTTPS bool
}

var defaultWebClient = &http.Client{Timeout: 10 * time.Second}

// BlockHosts returns the hosts holding replicas of path's blocks, the host
// with the most bytes of the file first, using the NameNode HTTP address
// httpAddr ("host:port", dfs.namenode.http-address).
func BlockHosts(ctx context.Context, httpAddr, path string) ([]string, error) {
	return (&WebHDFS{Addrs: []string{httpAddr}}).BlockHosts(ctx, path)
}

// BlockHosts returns the hosts holding replicas of path's blocks, the host
// with the most bytes of the file first (ties by name).
func (w *WebHDFS) BlockHosts(ctx context.Context, path string) ([]string, error) {
	locs, err := w.BlockLocations(ctx, path)
	if err != nil {
		return nil, err
	}
	return HostsByBytes(locs), nil
}

// HostsByBytes ranks the hosts of locs by the bytes they hold.
func HostsByBytes(locs []BlockLocation) []string {
	bytes := map[string]int64{}
	for _, b := range locs {
		seen := map[string]bool{}
		for _, h := range b.Hosts {
			if !seen[h] {
				seen[h] = true
				bytes[h] += max(b.Length, 1)
			}
		}
	}
	hosts := make([]string, 0, len(bytes))
	for h := range bytes {
		hosts = append(hosts, h)
	}
	sort.Slice(hosts, func(i, j int) bool {
		if bytes[hosts[i]] != bytes[hosts[j]] {
			return bytes[hosts[i]] > bytes[hosts[j]]
		}
		return hosts[i] < hosts[j]
	})
	return hosts
}

// BlockLocations returns every block of path with its replicas, via
// op=GETFILEBLOCKLOCATIONS (Hadoop 3.3+), falling back to the older
// op=GET_BLOCK_LOCATIONS. Errors wrap fs.ErrNotExist / fs.ErrPermission
// where WebHDFS says so.
func (w *WebHDFS) BlockLocations(ctx context.Context, path string) ([]BlockLocation, error) {
	if len(w.Addrs) == 0 {
		return nil, errors.New("webhdfs: no NameNode HTTP address configured")
	}
	path = cleanPath(path)
	var errs []error
	for _, addr := range w.Addrs {
		locs, err := w.getFileBlockLocations(ctx, addr, path)
		if err == nil {
			return locs, nil
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || ctx.Err() != nil {
			return nil, err
		}
		var ue *unsupportedOpError
		if errors.As(err, &ue) {
			locs, err2 := w.getBlockLocations(ctx, addr, path)
			if err2 == nil {
				return locs, nil
			}
			err = fmt.Errorf("%w; fallback: %w", err, err2)
			if errors.Is(err2, fs.ErrNotExist) || errors.Is(err2, fs.ErrPermission) {
				return nil, err
			}
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

type unsupportedOpError struct{ msg string }

func (e *unsupportedOpError) Error() string { return e.msg }

func (w *WebHDFS) getFileBlockLocations(ctx context.Context, addr, path string) ([]BlockLocation, error) {
	var resp struct {
		BlockLocations struct {
			BlockLocation []struct {
				Offset int64    `json:"offset"`
				Length int64    `json:"length"`
				Hosts  []string `json:"hosts"`
				Names  []string `json:"names"`
			} `json:"BlockLocation"`
		} `json:"BlockLocations"`
	}
	if err := w.get(ctx, addr, path, "GETFILEBLOCKLOCATIONS", &resp); err != nil {
		return nil, err
	}
	out := make([]BlockLocation, 0, len(resp.BlockLocations.BlockLocation))
	for _, b := range resp.BlockLocations.BlockLocation {
		out = append(out, BlockLocation{Offset: b.Offset, Length: b.Length, Hosts: b.Hosts, Names: b.Names})
	}
	return out, nil
}

func (w *WebHDFS) getBlockLocations(ctx context.Context, addr, path string) ([]BlockLocation, error) {
	var resp struct {
		LocatedBlocks struct {
			LocatedBlocks []struct {
				StartOffset int64 `json:"startOffset"`
				Block       struct {
					NumBytes int64 `json:"numBytes"`
				} `json:"block"`
				Locations []struct {
					HostName string `json:"hostName"`
					IPAddr   string `json:"ipAddr"`
					XferPort int    `json:"xferPort"`
				} `json:"locations"`
			} `json:"locatedBlocks"`
		} `json:"LocatedBlocks"`
	}
	if err := w.get(ctx, addr, path, "GET_BLOCK_LOCATIONS", &resp); err != nil {
		return nil, err
	}
	out := make([]BlockLocation, 0, len(resp.LocatedBlocks.LocatedBlocks))
	for _, b := range resp.LocatedBlocks.LocatedBlocks {
		bl := BlockLocation{Offset: b.StartOffset, Length: b.Block.NumBytes}
		for _, l := range b.Locations {
			h := l.HostName
			if h == "" {
				h = l.IPAddr
			}
			bl.Hosts = append(bl.Hosts, h)
			bl.Names = append(bl.Names, fmt.Sprintf("%s:%d", l.IPAddr, l.XferPort))
		}
		out = append(out, bl)
	}
	return out, nil
}

func (w *WebHDFS) get(ctx context.Context, addr, path, op string, into any) error {
	scheme := "http"
	if w.HTTPS {
		scheme = "https"
	}
	q := url.Values{"op": {op}}
	if u := webUser(w.User); u != "" {
		q.Set("user.name", u)
	}
	u := (&url.URL{Scheme: scheme, Host: addr, Path: "/webhdfs/v1" + path, RawQuery: q.Encode()}).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("webhdfs %s %s: %w", op, path, err)
	}
	c := w.Client
	if c == nil {
		c = defaultWebClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhdfs %s %s on %s: %w", op, path, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("webhdfs %s %s on %s: %w", op, path, addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var re struct {
			RemoteException struct {
				Exception string `json:"exception"`
				Message   string `json:"message"`
			} `json:"RemoteException"`
		}
		_ = json.Unmarshal(body, &re)
		msg := re.RemoteException.Message
		if msg == "" {
			msg = strings.TrimSpace(string(body))
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
		}
		base := fmt.Sprintf("webhdfs %s %s on %s: HTTP %d %s: %s", op, path, addr, resp.StatusCode, re.RemoteException.Exception, msg)
		switch {
		case resp.StatusCode == http.StatusNotFound || re.RemoteException.Exception == "FileNotFoundException":
			return fmt.Errorf("%s: %w", base, fs.ErrNotExist)
		case re.RemoteException.Exception == "AccessControlException" || resp.StatusCode == http.StatusForbidden && re.RemoteException.Exception != "StandbyException":
			return fmt.Errorf("%s: %w", base, fs.ErrPermission)
		case resp.StatusCode == http.StatusBadRequest && (strings.Contains(msg, op) || re.RemoteException.Exception == "IllegalArgumentException"),
			resp.StatusCode == http.StatusNotImplemented:
			return &unsupportedOpError{msg: base}
		}
		return errors.New(base)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("webhdfs %s %s on %s: bad JSON: %w", op, path, addr, err)
	}
	return nil
}

func webUser(u string) string {
	if u != "" {
		return u
	}
	if u = os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if cu, err := user.Current(); err == nil {
		return cu.Username
	}
	return ""
}
