package selector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Rejection reasons of the HTTP API. They appear in error bodies and as the reason label of
// promptfolio_selector_rejections_total.
const (
	ReasonMalformed        = "malformed"
	ReasonBadSignature     = "bad_signature"
	ReasonUnknownPortfolio = "unknown_portfolio"
	ReasonUnknownArm       = "unknown_arm"
	ReasonDuplicate        = "duplicate"
	ReasonExpired          = "expired"
	ReasonTooLarge         = "too_large"
	ReasonNotReady         = "not_ready"
	ReasonShuttingDown     = "shutting_down"
	ReasonNoActiveArms     = "no_active_arms"
	ReasonKeyUnavailable   = "key_unavailable"
	ReasonNotFound         = "not_found"
	ReasonMethod           = "method_not_allowed"
	ReasonWriterChanged    = "writer_changed"
	ReasonBacklogFull      = "backlog_full"
	ReasonReportLost       = "report_lost"
	ReasonStateUnavailable = "state_unavailable"
	ReasonHomeUnavailable  = "home_unavailable"
	ReasonHomeUnanswered   = "home_unanswered"
	ReasonIssuerGone       = "issuer_gone"
	ReasonMisdirected      = "misdirected"
)

var reasons = []string{
	ReasonMalformed, ReasonBadSignature, ReasonUnknownPortfolio, ReasonUnknownArm, ReasonDuplicate,
	ReasonExpired, ReasonTooLarge, ReasonNotReady, ReasonShuttingDown, ReasonNoActiveArms,
	ReasonKeyUnavailable, ReasonNotFound, ReasonMethod, ReasonWriterChanged, ReasonBacklogFull,
	ReasonReportLost, ReasonStateUnavailable, ReasonHomeUnavailable, ReasonHomeUnanswered, ReasonIssuerGone, ReasonMisdirected,
}

// metrics are the selector's Prometheus metrics, on a registry of its own.
type metrics struct {
	registry      *prometheus.Registry
	draws         *prometheus.CounterVec
	rewards       *prometheus.CounterVec
	rejections    map[string]prometheus.Counter
	flushDuration prometheus.Histogram
	flushErrors   prometheus.Counter
	writes        *prometheus.CounterVec
	forwards      *prometheus.CounterVec
}

// newMetrics registers the metrics; pending and replay report the gauges read at scrape time.
func newMetrics(pending func() float64, replay func() float64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		draws: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptfolio_selector_draws_total", Help: "Thompson draws served, by portfolio.",
		}, []string{"portfolio"}),
		rewards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptfolio_selector_rewards_total", Help: "Rewards acknowledged with 202, by portfolio and outcome (success or failure).",
		}, []string{"portfolio", "outcome"}),
		rejections: map[string]prometheus.Counter{},
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "promptfolio_selector_flush_duration_seconds", Help: "Duration of one flush of all arms' counters.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promptfolio_selector_flush_errors_total", Help: "Counter writes that failed and will be retried.",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptfolio_selector_api_writes_total", Help: "Writes sent to the API server, by kind (create, report).",
		}, []string{"kind"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptfolio_selector_forwarded_rewards_total",
			Help: "Rewards forwarded to the selector that issued their decision, by the status code it answered (or unreachable).",
		}, []string{"code"}),
	}
	rejections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promptfolio_selector_rejections_total", Help: "Requests answered with an error, by reason.",
	}, []string{"reason"})
	for _, r := range reasons {
		m.rejections[r] = rejections.WithLabelValues(r)
	}
	m.registry.MustRegister(m.draws, m.rewards, rejections, m.flushDuration, m.flushErrors, m.writes, m.forwards,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "promptfolio_selector_pending_rewards", Help: "Acknowledged rewards not yet written to the API server.",
		}, pending),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "promptfolio_selector_replay_entries", Help: "Decisions remembered to reject duplicates until they expire.",
		}, replay),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
