package hdfsio

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// Location names a path on a particular filesystem: the local disk
// (Scheme "file") or one HDFS namespace (Scheme "hdfs", Authority
// "host:port" or a logical nameservice).
type Location struct {
	Scheme    string
	Authority string
	Path      string // absolute, cleaned, slash-separated
}

// ParseLocation accepts what users type: "/data/x", "file:/data/x",
// "file:///data/x", "hdfs://nn:8020/data/x". Relative local paths are made
// absolute against the working directory.
func ParseLocation(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("empty path")
	}
	if !strings.Contains(s, ":") || filepath.IsAbs(s) {
		abs, err := filepath.Abs(s)
		if err != nil {
			return Location{}, fmt.Errorf("path %q: %w", s, err)
		}
		return Location{Scheme: "file", Path: path.Clean(filepath.ToSlash(abs))}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("path %q: %w", s, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("path %q: file URIs cannot name a host", s)
		}
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		if !strings.HasPrefix(p, "/") {
			return Location{}, fmt.Errorf("path %q: file URI must be absolute", s)
		}
		return Location{Scheme: "file", Path: path.Clean(p)}, nil
	case "hdfs":
		if u.Host == "" {
			return Location{}, fmt.Errorf("path %q: hdfs URI needs a namenode or nameservice (hdfs://host:port/path)", s)
		}
		p := u.Path
		if p == "" {
			p = "/"
		}
		return Location{Scheme: "hdfs", Authority: u.Host, Path: path.Clean(p)}, nil
	default:
		return Location{}, fmt.Errorf("path %q: unsupported scheme %q (use a local path, file: or hdfs://)", s, u.Scheme)
	}
}

// String renders the location as the URI Spark writes into origin.
func (l Location) String() string {
	if l.Scheme == "hdfs" {
		return "hdfs://" + l.Authority + l.Path
	}
	return "file:" + l.Path
}

// Join returns the location of a path below l.
func (l Location) Join(rel string) Location {
	l.Path = path.Join(l.Path, rel)
	return l
}

// Within reports whether l is root or lies below it on the same filesystem.
// Both must be cleaned (ParseLocation does that), so ".." cannot escape.
func (l Location) Within(root Location) bool {
	if l.Scheme != root.Scheme || l.Authority != root.Authority {
		return false
	}
	if root.Path == "/" || l.Path == root.Path {
		return true
	}
	return strings.HasPrefix(l.Path, root.Path+"/")
}

// Roots is the set of locations a process may serve. Anything outside is
// refused before it is listed or opened.
type Roots []Location

// ParseRoots parses each root with ParseLocation.
func ParseRoots(specs []string) (Roots, error) {
	roots := make(Roots, 0, len(specs))
	for _, s := range specs {
		l, err := ParseLocation(s)
		if err != nil {
			return nil, fmt.Errorf("root: %w", err)
		}
		roots = append(roots, l)
	}
	return roots, nil
}

// Contains reports whether l lies within one of the roots.
func (r Roots) Contains(l Location) bool {
	for _, root := range r {
		if l.Within(root) {
			return true
		}
	}
	return false
}
