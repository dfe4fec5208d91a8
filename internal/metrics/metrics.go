// Package metrics holds the Prometheus collectors of the promptfolio controller. They are
// registered on controller-runtime's registry, so the manager's metrics endpoint serves them next
// to the workqueue and client metrics.
//
// Per-arm gauges carry the labels namespace, portfolio and arm. RecordArms replaces the series of
// one portfolio at a time, so series of arms that no longer exist disappear instead of reporting
// their last value forever.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "promptfolio"

var armLabels = []string{"namespace", "portfolio", "arm"}

// counterVec is a counter of the promptfolio namespace with the given labels.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

// histogramOpts are the options of a histogram of the promptfolio namespace.
func histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}
}

// histogramVec is a histogram of the promptfolio namespace with the given labels.
func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(histogramOpts(name, help, buckets), labels)
}

// armGauge is a per-arm gauge, labelled by armLabels.
func armGauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, armLabels)
}

var (
	armMean = armGauge("arm_posterior_mean",
		"Posterior mean of an arm's success rate.")
	armAlpha = armGauge("arm_posterior_alpha",
		"Alpha of an arm's Beta posterior (prior alpha plus successes).")
	armBeta = armGauge("arm_posterior_beta",
		"Beta of an arm's Beta posterior (prior beta plus failures).")
	armProbBest = armGauge("arm_prob_best",
		"Probability that an arm has the highest success rate of its portfolio's active arms.")

	cycles = counterVec("evolution_cycles_total",
		"Evolution cycles completed, by trigger (Schedule, EveryTrials, Requested) and result (Succeeded, MutatorFailing).",
		"trigger", "result")
	cycleDuration = prometheus.NewHistogram(histogramOpts("evolution_cycle_duration_seconds",
		"Time from the start of an evolution cycle's work to its completion, within one reconcile.",
		[]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}))
	retirements = counterVec("arm_retirements_total",
		"Arms retired, by reason (WorseThanBest, SeedChanged, SeedRemoved).",
		"reason")
	mutations = counterVec("mutation_candidates_total",
		"Mutation candidates, by mutator and outcome: Admitted or the guardrail reason that rejected it.",
		"mutator", "outcome")
	mutationDuration = histogramVec("mutation_duration_seconds",
		"Time spent asking a mutator for the children of one cycle, guardrails included.",
		[]float64{0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}, "mutator")
	llmCalls = counterVec("llm_requests_total",
		"HTTP calls to an OpenAI-compatible API, by status code (\"error\" when no response arrived).",
		"code")
	llmDuration = prometheus.NewHistogram(histogramOpts("llm_request_duration_seconds",
		"Latency of HTTP calls to an OpenAI-compatible API.",
		[]float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}))
	statusWrites = counterVec("status_writes_total",
		"Status and ledger writes the controller sent, by kind (PromptArm, PromptPortfolio, PromptCounterReport).",
		"kind")
	writerFolds = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "writer_folds_total",
		Help: "Counter reports of gone selector writers that the controller folded into their portfolio's ledger and released.",
	})
	watchFailures = counterVec("cache_watch_failures_total",
		"Lists and watches of the manager's cache that failed, by kind; while they fail, the cache serves the objects it last had.",
		"kind")
)

func init() {
	crmetrics.Registry.MustRegister(armMean, armAlpha, armBeta, armProbBest,
		cycles, cycleDuration, retirements, mutations, mutationDuration, llmCalls, llmDuration, statusWrites,
		writerFolds, watchFailures)
}

// ArmSample is what the gauges show of one arm.
type ArmSample struct {
	Arm                         string
	Mean, Alpha, Beta, ProbBest float64
}

// armSeries remembers which arms of each portfolio have series, to delete the ones that go away.
var armSeries = struct {
	sync.Mutex
	byPortfolio map[string]map[string]bool
}{byPortfolio: map[string]map[string]bool{}}

// RecordArms sets the gauges of every arm of one portfolio and deletes the series of its arms that
// are not in arms any more.
func RecordArms(ns, portfolio string, arms []ArmSample) {
	key := ns + "/" + portfolio
	armSeries.Lock()
	defer armSeries.Unlock()
	now := make(map[string]bool, len(arms))
	for _, a := range arms {
		now[a.Arm] = true
		armMean.WithLabelValues(ns, portfolio, a.Arm).Set(a.Mean)
		armAlpha.WithLabelValues(ns, portfolio, a.Arm).Set(a.Alpha)
		armBeta.WithLabelValues(ns, portfolio, a.Arm).Set(a.Beta)
		armProbBest.WithLabelValues(ns, portfolio, a.Arm).Set(a.ProbBest)
	}
	for arm := range armSeries.byPortfolio[key] {
		if !now[arm] {
			deleteArm(ns, portfolio, arm)
		}
	}
	armSeries.byPortfolio[key] = now
}

// ForgetPortfolio deletes the series of every arm of a portfolio that was deleted.
func ForgetPortfolio(ns, portfolio string) {
	key := ns + "/" + portfolio
	armSeries.Lock()
	defer armSeries.Unlock()
	for arm := range armSeries.byPortfolio[key] {
		deleteArm(ns, portfolio, arm)
	}
	delete(armSeries.byPortfolio, key)
}

func deleteArm(ns, portfolio, arm string) {
	for _, g := range []*prometheus.GaugeVec{armMean, armAlpha, armBeta, armProbBest} {
		g.DeleteLabelValues(ns, portfolio, arm)
	}
}

// CycleCompleted counts one completed cycle and observes its duration.
func CycleCompleted(trigger, result string, d time.Duration) {
	cycles.WithLabelValues(trigger, result).Inc()
	cycleDuration.Observe(d.Seconds())
}

// ArmRetired counts one retirement.
func ArmRetired(reason string) { retirements.WithLabelValues(reason).Inc() }

// MutationOutcome counts n candidates of a mutator with one outcome: "Admitted" or a rejection
// reason.
func MutationOutcome(mutator, outcome string, n int) {
	if n > 0 {
		mutations.WithLabelValues(mutator, outcome).Add(float64(n))
	}
}

// MutationDuration observes the time one cycle spent with its mutator.
func MutationDuration(mutator string, d time.Duration) {
	mutationDuration.WithLabelValues(mutator).Observe(d.Seconds())
}

// StatusWrite counts one status write of the given kind.
func StatusWrite(kind string) { statusWrites.WithLabelValues(kind).Inc() }

// StatusWrites returns the number of status writes of a kind counted so far, for benchmarks and
// tests.
func StatusWrites(kind string) float64 { return counterValue(statusWrites.WithLabelValues(kind)) }

// WriterFolded counts one folded counter report of a gone writer.
func WriterFolded() { writerFolds.Inc() }

// WriterFolds returns the number of folded entries counted so far, for tests.
func WriterFolds() float64 { return counterValue(writerFolds) }

// WatchFailed counts one failed list or watch of the cache's informer of kind.
func WatchFailed(kind string) { watchFailures.WithLabelValues(kind).Inc() }

// WatchFailures returns the failed lists and watches of kind counted so far, for tests.
func WatchFailures(kind string) float64 { return counterValue(watchFailures.WithLabelValues(kind)) }

// counterValue reads a counter; 0 when it cannot be read.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// InstrumentTransport wraps next so that every HTTP call through it is counted and timed as an
// LLM call. A nil next means http.DefaultTransport.
func InstrumentTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		llmDuration.Observe(time.Since(start).Seconds())
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		llmCalls.WithLabelValues(code).Inc()
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
