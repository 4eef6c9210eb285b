package planner

import (
	"context"
	"sync"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/plan"
)

// Locator returns the hosts holding replicas of a file, the host with the
// most bytes first (hdfsio.WebHDFS.BlockHosts behind it for HDFS).
type Locator func(ctx context.Context, file hdfsio.Location) ([]string, error)

// localitySamples is how many files per split are asked for block
// locations: splits are contiguous runs of the listing, so files in one
// split were mostly written together and share replica hosts; sampling
// bounds the cost to splits×samples requests whatever the file count.
const localitySamples = 8

// locality estimates, per split, the bytes each host holds. It returns nil
// (no locality, plan by balance alone) when base is not on HDFS, no Locator
// is configured or the locations cannot be had; the last case is logged
// once per plan. The lookups fan out with a bound and stop at the first
// failure; keeping that in one function keeps its locking in one place.
func (c *Coordinator) locality(ctx context.Context, base hdfsio.Location, splits []plan.Split) []map[string]int64 {
	if c.deps.Locate == nil || base.Scheme != "hdfs" || len(splits) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LocalityTimeout)
	defer cancel()
	type job struct {
		split int
		file  plan.File
	}
	var jobs []job
	for i, s := range splits {
		step := max(len(s.Files)/localitySamples, 1)
		for j := 0; j < len(s.Files) && j/step < localitySamples; j += step {
			jobs = append(jobs, job{i, s.Files[j]})
		}
	}
	out := make([]map[string]int64, len(splits))
	for i := range out {
		out[i] = map[string]int64{}
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		firstEr error
		sem     = make(chan struct{}, 16)
	)
	start := time.Now()
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func(j job) {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() != nil {
				return
			}
			loc := base
			loc.Path = j.file.Path
			hosts, err := c.deps.Locate(ctx, loc)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstEr == nil {
					firstEr = err
					cancel()
				}
				return
			}
			for _, h := range hosts {
				out[j.split][h] += max(j.file.Size, 1)
			}
		}(j)
	}
	wg.Wait()
	if firstEr != nil {
		c.log.Warn("block locations unavailable; planning without locality", "path", base, "err", firstEr)
		return nil
	}
	c.log.Debug("block locality", "path", base, "lookups", len(jobs), "took", time.Since(start).Round(time.Millisecond))
	return out
}
