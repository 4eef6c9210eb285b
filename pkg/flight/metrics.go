package flight

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Process-wide metrics, shared by every coordinator and worker in the
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
	streamsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_doget_streams_total",
		Help: "DoGet streams finished, by gRPC status code.",
	}, []string{"code"})
	streamsInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "imageflight_doget_streams_in_flight",
		Help: "DoGet streams being served now.",
	})
	plansTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_plans_total",
		Help: "GetFlightInfo calls, by gRPC status code.",
	}, []string{"code"})
	budgetBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "imageflight_memory_budget_used_bytes",
		Help: "Bytes reserved against the worker's memory budget.",
	})
	sendTimeouts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_send_timeouts_total",
		Help: "DoGet streams failed because the client read nothing within --send-timeout.",
	})
	plansRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_plans_refused_busy_total",
		Help: "Plans answered ResourceExhausted because every planning slot stayed busy.",
	})
	filesPlanned = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_files_planned_total",
		Help: "Files handed out in plans.",
	})
)
