package flight

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The Flight calls' metrics by gRPC status code, process-wide: shared by
// every service in the process (tests run several).
var (
	streamsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_doget_streams_total",
		Help: "DoGet streams finished, by gRPC status code.",
	}, []string{"code"})
	plansTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "imageflight_plans_total",
		Help: "GetFlightInfo calls, by gRPC status code.",
	}, []string{"code"})
	sendTimeouts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_send_timeouts_total",
		Help: "DoGet streams failed because the client read nothing within --send-timeout.",
	})
)
