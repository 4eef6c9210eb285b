package hdfsio

import (
	"context"
	"fmt"
	"sync"
)

// Mounts hands out the FileSystem behind a Location: the local disk, or one
// client per HDFS namespace, dialed on first use and shared afterwards.
type Mounts struct {
	// DialHDFS connects to the namespace named by an hdfs:// authority. Nil
	// means hdfs:// locations are refused.
	DialHDFS func(ctx context.Context, authority string) (FileSystem, error)
	// Local serves file: locations (nil: Local{}); workers set a
	// RootedLocal so that reads cannot leave the served roots.
	Local FileSystem

	mu   sync.Mutex
	hdfs map[string]FileSystem
}

// For returns the filesystem that holds loc.
func (m *Mounts) For(ctx context.Context, loc Location) (FileSystem, error) {
	switch loc.Scheme {
	case "file":
		if m.Local != nil {
			return m.Local, nil
		}
		return Local{}, nil
	case "hdfs":
		if m.DialHDFS == nil {
			return nil, fmt.Errorf("%s: HDFS is not configured in this process", loc)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if fsys, ok := m.hdfs[loc.Authority]; ok {
			return fsys, nil
		}
		fsys, err := m.DialHDFS(ctx, loc.Authority)
		if err != nil {
			return nil, fmt.Errorf("connect to hdfs://%s: %w", loc.Authority, err)
		}
		if m.hdfs == nil {
			m.hdfs = make(map[string]FileSystem)
		}
		m.hdfs[loc.Authority] = fsys
		return fsys, nil
	}
	return nil, fmt.Errorf("%s: unsupported scheme %q", loc, loc.Scheme)
}
