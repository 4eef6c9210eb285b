package flight

import (
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// addCounters copies the process's worker counters into a worker-status
// answer, so the coordinator's console can show throughput and failures
// without scraping every worker's /metrics.
func addCounters(st *wire.WorkerStatus) {
	st.Images = counterVec(imagesTotal)
	st.Streams = counterVec(streamsTotal)
	st.BytesRead = int64(counterValue(bytesRead))
	st.PixelBytes = int64(counterValue(pixelBytes))
	st.SendTimeouts = int64(counterValue(sendTimeouts))
}

func counterVec(v *prometheus.CounterVec) map[string]int64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { v.Collect(ch); close(ch) }()
	out := map[string]int64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		for _, l := range d.Label {
			out[l.GetValue()] += int64(d.Counter.GetValue())
		}
	}
	return out
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return d.Counter.GetValue()
}
