package flight

import (
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// addCounters copies the process's worker counters — the values its
// /metrics shows, from the pipeline and from this edge — into a
// worker-status answer, so the coordinator's console can show throughput
// and failures without scraping every worker's /metrics.
func addCounters(st *wire.WorkerStatus) {
	fams, _ := prometheus.DefaultGatherer.Gather() // partial results on error: show what there is
	for _, f := range fams {
		switch f.GetName() {
		case "imageflight_images_total":
			st.Images = byLabel(f)
		case "imageflight_doget_streams_total":
			st.Streams = byLabel(f)
		case "imageflight_file_bytes_read_total":
			st.BytesRead = total(f)
		case "imageflight_pixel_bytes_total":
			st.PixelBytes = total(f)
		case "imageflight_send_timeouts_total":
			st.SendTimeouts = total(f)
		}
	}
}

// byLabel sums a counter family by its (single) label's value.
func byLabel(f *dto.MetricFamily) map[string]int64 {
	out := map[string]int64{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetValue()] += int64(m.GetCounter().GetValue())
		}
	}
	return out
}

func total(f *dto.MetricFamily) int64 {
	var n float64
	for _, m := range f.GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return int64(n)
}
