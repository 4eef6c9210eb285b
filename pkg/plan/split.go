package plan

// Split is a contiguous run of the sorted listing that one DoGet serves.
type Split struct {
	Index int
	Files []File
	Bytes int64
}

// MaxPartitions is the most splits one plan has. Every split becomes a
// signed ticket and an endpoint in FlightInfo, so a request for a billion
// partitions must not cost a billion of anything; the descriptor's
// numPartitions is validated against it and Cut clamps to it.
const MaxPartitions = 100_000

// Cut divides files (sorted by path) into n contiguous splits balanced by
// bytes. It returns exactly min(n, MaxPartitions) splits when there are at
// least that many files and one split per file otherwise; rows keep path
// order within and across splits. The cut depends only on the listing and
// n, and costs O(len(files)) whatever n is. An n below 1 (a caller's
// overflowed arithmetic) counts as 1: files never silently drop out of a plan.
func Cut(files []File, n int) []Split {
	n = min(max(n, 1), len(files), MaxPartitions)
	if n == 0 {
		return nil
	}
	var remaining int64
	for _, f := range files {
		remaining += weight(f)
	}
	splits := make([]Split, 0, n)
	start := 0
	for i := 0; i < n; i++ {
		left := n - i
		if left == 1 {
			splits = append(splits, newSplit(i, files[start:]))
			break
		}
		// Aim for an equal share of what is left; stop early enough that
		// every later split still gets a file.
		target := remaining / int64(left)
		end, acc := start, int64(0)
		maxEnd := len(files) - (left - 1)
		for end < maxEnd {
			w := weight(files[end])
			// Take the file if the split is empty or if taking it lands
			// closer to the target than leaving it.
			if end > start && acc+w/2 > target {
				break
			}
			acc += w
			end++
		}
		splits = append(splits, newSplit(i, files[start:end]))
		remaining -= acc
		start = end
	}
	return splits
}

// weight counts a file's bytes, with a floor so that runs of tiny or empty
// files still spread out (each costs an open and a row).
func weight(f File) int64 {
	const floor = 4 << 10
	if f.Size < floor {
		return floor
	}
	return f.Size
}

func newSplit(i int, files []File) Split {
	s := Split{Index: i, Files: files}
	for _, f := range files {
		s.Bytes += f.Size
	}
	return s
}
