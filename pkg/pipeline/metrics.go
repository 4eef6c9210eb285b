package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The worker's metrics, process-wide: shared by every worker in the
// process (tests run several).
var (
	imagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_images_total",
		Help: "Images served by this worker, by result (ok, invalid, dropped).",
	}, []string{"result"})
	pixelBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_pixel_bytes_total",
		Help: "Bytes of decoded (and transformed) pixels in the rows served.",
	})
	bytesRead = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_file_bytes_read_total",
		Help: "Encoded image bytes read from storage.",
	})
	streamsInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "imageflight_doget_streams_in_flight",
		Help: "DoGet streams being served now.",
	})
	budgetBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "imageflight_memory_budget_used_bytes",
		Help: "Bytes reserved against the worker's memory budget.",
	})
)
