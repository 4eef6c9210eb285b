package planner

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The coordinator's metrics, process-wide: shared by every coordinator in
// the process (tests run several).
var (
	plansRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_plans_refused_busy_total",
		Help: "Plans answered ResourceExhausted because every planning slot stayed busy.",
	})
	filesPlanned = promauto.NewCounter(prometheus.CounterOpts{
		Name: "imageflight_files_planned_total",
		Help: "Files handed out in plans.",
	})
)
