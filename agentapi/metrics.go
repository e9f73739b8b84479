package agentapi

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/status"
)

// metrics are the agent's Prometheus series, all named gitfleet_*.
type metrics struct {
	passes       *prometheus.CounterVec
	noopPolls    prometheus.Counter
	passDuration prometheus.Histogram
	refusals     *prometheus.CounterVec
	applied      *prometheus.GaugeVec
	workloadUp   *prometheus.GaugeVec
	restarts     *prometheus.GaugeVec
	pushDuration prometheus.Histogram
	pushErrors   prometheus.Counter
	refusalsBy   *prometheus.CounterVec
	pulls        *prometheus.CounterVec
	pullBytes    prometheus.Counter
	pullDuration prometheus.Histogram
	gitBytes     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_passes_total", Help: "Reconcile passes by result (ok, refused, waiting, retrying).",
		}, []string{"result"}),
		noopPolls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_noop_polls_total", Help: "Passes whose poll found the branch unchanged and did nothing.",
		}),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gitfleet_pass_duration_seconds", Help: "Duration of reconcile passes.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_pass_errors_total", Help: "Failed passes by error class (refused, waiting, retrying).",
		}, []string{"class"}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_applied_revision_info", Help: "The revision applied in full (value 1).",
		}, []string{"revision"}),
		workloadUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_workload_healthy", Help: "1 when the workload runs and is healthy (or has no check), else 0.",
		}, []string{"workload"}),
		restarts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_workload_restarts", Help: "Restarts of the workload's container as last reported.",
		}, []string{"workload"}),
		pushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gitfleet_status_push_duration_seconds", Help: "Time to commit and push a status report.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}),
		pushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_status_push_errors_total", Help: "Status reports that could not be pushed.",
		}),
		refusalsBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_refusals_total", Help: "Refused passes by what was refused (spec, commit, image, workload, config, other).",
		}, []string{"reason"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_image_pulls_total", Help: "Image pulls from a registry by result (ok, error).",
		}, []string{"result"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_image_pull_bytes_total", Help: "Bytes image pulls read from registries (manifests and layers).",
		}),
		pullDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gitfleet_image_pull_duration_seconds", Help: "Duration of image pulls, unpacking included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 4, 9),
		}),
		gitBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_git_bytes_total",
			Help: "Bytes of git traffic (TCP payload, or pipe bytes for a file:// repo) by direction (sent, received) and op (poll, fetch, push, reports, headurl, other).",
		}, []string{"direction", "op"}),
	}
	reg.MustRegister(m.passes, m.noopPolls, m.passDuration, m.refusals, m.applied, m.workloadUp, m.restarts,
		m.pushDuration, m.pushErrors, m.refusalsBy, m.pulls, m.pullBytes, m.pullDuration, m.gitBytes)
	return m
}

func (m *metrics) observePass(p reconciler.PassResult, reason func(error) string) {
	m.passDuration.Observe(p.Duration.Seconds())
	result := "ok"
	if p.Err != nil {
		result = fault.ClassOf(p.Err).String()
		m.refusals.WithLabelValues(result).Inc()
		if fault.ClassOf(p.Err) == fault.Refused {
			r := "other"
			if reason != nil {
				r = reason(p.Err)
			}
			m.refusalsBy.WithLabelValues(r).Inc()
		}
	}
	m.passes.WithLabelValues(result).Inc()
	if p.NoOp {
		m.noopPolls.Inc()
	}
	if p.Revision != "" {
		m.applied.Reset()
		m.applied.WithLabelValues(p.Revision).Set(1)
	}
}

func (m *metrics) observeReport(st *status.NodeStatus, took time.Duration, err error) {
	m.pushDuration.Observe(took.Seconds())
	if err != nil {
		m.pushErrors.Inc()
	}
	m.workloadUp.Reset()
	m.restarts.Reset()
	for _, w := range st.Status.Workloads {
		up := 0.0
		if w.State == status.StateRunning && (w.Health == "" || w.Health == "healthy") {
			up = 1
		}
		m.workloadUp.WithLabelValues(w.Name).Set(up)
		m.restarts.WithLabelValues(w.Name).Set(float64(w.Restarts))
	}
}

func (m *metrics) observePull(bytes int64, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.pulls.WithLabelValues(result).Inc()
	m.pullBytes.Add(float64(bytes))
	m.pullDuration.Observe(took.Seconds())
}

func (m *metrics) observeGitBytes(op string, sent, received int64) {
	if sent > 0 {
		m.gitBytes.WithLabelValues("sent", op).Add(float64(sent))
	}
	if received > 0 {
		m.gitBytes.WithLabelValues("received", op).Add(float64(received))
	}
}
