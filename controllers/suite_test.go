package controllers_test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// env is the control plane shared by the tests of this package: etcd, kube-apiserver and
// kube-controller-manager (for garbage collection).
var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	// PROMPTFOLIO_TEST_NO_KCM=1 runs without kube-controller-manager; the garbage-collection
	// checks are skipped then.
	withGC = os.Getenv("PROMPTFOLIO_TEST_NO_KCM") == ""
	// Logs that do not go through a manager (clients, event broadcasters) are kept too, so the
	// secret scan covers them.
	ctrl.SetLogger(zap.New(zap.WriteTo(globalLogs)))
	var err error
	env, err = testenv.Start(testenv.Options{ControllerManager: withGC})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

// globalLogs collects controller-runtime's process-wide logs.
var globalLogs = &syncBuffer{}

// withGC tells whether kube-controller-manager (and so garbage collection) runs.
var withGC bool

// requireEnv skips a test that needs the control plane when it is not running.
func requireEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("envtest suites do not run with -short")
	}
}

// syncBuffer is a goroutine-safe log sink that keeps everything, for the secret scans.
type syncBuffer = testenv.Buffer

// manager is a running controller manager of one test namespace.
type manager struct {
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// stop stops the manager and waits until it has returned.
func (m *manager) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("manager: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("manager did not stop within 60s")
	}
}

// startManager starts a manager that watches only ns, with the reconciler configured by opts,
// and stops it when the test ends. Its logs are kept for assertions.
func startManager(t *testing.T, ns string, opts controllers.Options) *manager {
	t.Helper()
	return startManagerWithConfig(t, ns, env.Config, opts)
}

// startManagerWithConfig is startManager talking to the API server with cfg (for example as an
// impersonated user with the manager's role).
//
// Its cache records the health of its watches as the manager's does: with opts.WatchHealth when
// set, else with the defaults.
func startManagerWithConfig(t *testing.T, ns string, cfg *rest.Config, opts controllers.Options) *manager {
	t.Helper()
	logs := &syncBuffer{}
	if opts.WatchHealth == nil {
		opts.WatchHealth = controllers.NewWatchHealth(env.Scheme, controllers.WatchHealthOptions{})
	}
	cacheOptions := cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}
	opts.WatchHealth.Install(&cacheOptions)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Logger:                 zap.New(zap.WriteTo(logs), zap.UseDevMode(false)),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOptions,
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.StatisticsInterval == 0 {
		opts.StatisticsInterval = 200 * time.Millisecond
	}
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &manager{logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			m.stop(t)
		}
	})
	orig := m.cancel
	m.cancel = func() { stopped = true; orig() }
	return m
}

// newNamespace creates a namespace for one test; it skips the test when the control plane is not
// running.
func newNamespace(t *testing.T) string {
	t.Helper()
	requireEnv(t)
	return env.Namespace(t, "pf")
}

// seeds builds seed prompts from name=text pairs.
func seeds(pairs ...string) []promptsv1alpha1.SeedPrompt {
	var out []promptsv1alpha1.SeedPrompt
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, promptsv1alpha1.SeedPrompt{Name: pairs[i], Text: pairs[i+1]})
	}
	return out
}

// createPortfolio creates a portfolio with the given seeds and a spec edited by edit.
func createPortfolio(t *testing.T, ns, name string, prompts []promptsv1alpha1.SeedPrompt, edit func(*promptsv1alpha1.PromptPortfolioSpec)) {
	t.Helper()
	pf := &promptsv1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       promptsv1alpha1.PromptPortfolioSpec{Prompts: prompts},
	}
	pf.Spec.Evolution.Schedule = "24h"
	if edit != nil {
		edit(&pf.Spec)
	}
	if err := env.Client.Create(context.Background(), pf); err != nil {
		t.Fatal(err)
	}
}

// updatePortfolio reads the portfolio, edits it and writes it back, retrying on conflicts.
func updatePortfolio(t *testing.T, ns, name string, edit func(*promptsv1alpha1.PromptPortfolio)) {
	t.Helper()
	for range 10 {
		pf := getPortfolio(t, ns, name)
		edit(pf)
		err := env.Client.Update(context.Background(), pf)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("too many conflicts updating the portfolio")
}

// requestCycle sets the run-cycle annotation to a new value.
func requestCycle(t *testing.T, ns, name, value string) {
	t.Helper()
	updatePortfolio(t, ns, name, func(pf *promptsv1alpha1.PromptPortfolio) {
		if pf.Annotations == nil {
			pf.Annotations = map[string]string{}
		}
		pf.Annotations[promptsv1alpha1.AnnotationRunCycle] = value
	})
}

// get reads the object ns/name from the API server into obj and returns obj.
func get[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func getPortfolio(t *testing.T, ns, name string) *promptsv1alpha1.PromptPortfolio {
	t.Helper()
	return get(t, ns, name, &promptsv1alpha1.PromptPortfolio{})
}

// armsOf lists a portfolio's arms by name.
func armsOf(t *testing.T, ns, portfolio string) map[string]*promptsv1alpha1.PromptArm {
	t.Helper()
	var list promptsv1alpha1.PromptArmList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns),
		client.MatchingLabels{promptsv1alpha1.LabelPortfolio: portfolio}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*promptsv1alpha1.PromptArm{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// names returns the keys of m in order.
func names[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// eventually polls cond until it returns true, failing the test with the last message after
// timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, msg = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v: %s", timeout, msg)
}

// waitPortfolio polls the portfolio until cond holds for it, for up to 30 seconds, and returns
// it; on a timeout the test fails with what cond said last.
func waitPortfolio(t *testing.T, ns, name string, cond func(*promptsv1alpha1.PromptPortfolio) (bool, string)) *promptsv1alpha1.PromptPortfolio {
	t.Helper()
	var pf *promptsv1alpha1.PromptPortfolio
	eventually(t, 30*time.Second, func() (bool, string) {
		pf = getPortfolio(t, ns, name)
		return cond(pf)
	})
	return pf
}

// waitActiveArms waits until the portfolio's status counts n active arms.
func waitActiveArms(t *testing.T, ns, name string, n int32) {
	t.Helper()
	waitPortfolio(t, ns, name, func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return pf.Status.ActiveArms == n, fmt.Sprintf("%d active arms, want %d", pf.Status.ActiveArms, n)
	})
}

// waitTrials waits until the portfolio's status counts want trials over all its arms.
func waitTrials(t *testing.T, ns, name string, want int64) {
	t.Helper()
	waitPortfolio(t, ns, name, func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return pf.Status.TotalTrials == want, fmt.Sprintf("total trials %d, want %d", pf.Status.TotalTrials, want)
	})
}

// waitGeneration waits until the portfolio completed evolution cycle gen.
func waitGeneration(t *testing.T, ns, name string, gen int32, timeout time.Duration) *promptsv1alpha1.PromptPortfolio {
	t.Helper()
	var pf *promptsv1alpha1.PromptPortfolio
	eventually(t, timeout, func() (bool, string) {
		pf = getPortfolio(t, ns, name)
		return pf.Status.EvolutionGeneration >= gen && pf.Status.CycleInProgress == nil,
			fmt.Sprintf("evolutionGeneration=%d cycleInProgress=%v", pf.Status.EvolutionGeneration, pf.Status.CycleInProgress != nil)
	})
	return pf
}

// condition returns the portfolio's condition of a type, or nil.
func condition(pf *promptsv1alpha1.PromptPortfolio, typ string) *metav1.Condition {
	return meta.FindStatusCondition(pf.Status.Conditions, typ)
}

// kstatusOf computes the kstatus of the portfolio as kubectl and Flux would.
func kstatusOf(t *testing.T, pf *promptsv1alpha1.PromptPortfolio) status.Status {
	t.Helper()
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// flush writes a selector's cumulative counts for one arm, as a selector does: into the writer's
// PromptCounterReport of the arm's portfolio, created with the fold finalizer when missing.
func flush(t *testing.T, ns, arm, writer string, successes, failures int64) {
	t.Helper()
	ctx := context.Background()
	pf := get(t, ns, arm, &promptsv1alpha1.PromptArm{}).Spec.Portfolio
	rep := &promptsv1alpha1.PromptCounterReport{}
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: counters.ReportName(writer, pf)}, rep)
	if apierrors.IsNotFound(err) {
		rep = &promptsv1alpha1.PromptCounterReport{
			ObjectMeta: metav1.ObjectMeta{
				Name: counters.ReportName(writer, pf), Namespace: ns,
				Labels:     map[string]string{promptsv1alpha1.LabelPortfolio: pf},
				Finalizers: []string{promptsv1alpha1.FinalizerCounterFold},
			},
			Spec: promptsv1alpha1.PromptCounterReportSpec{Portfolio: pf, Role: promptsv1alpha1.RoleWriter, Writer: writer},
		}
		setArmCount(rep, arm, successes, failures)
		if err := env.Client.Create(ctx, rep); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	setArmCount(rep, arm, successes, failures)
	if err := env.Client.Update(ctx, rep); err != nil {
		t.Fatal(err)
	}
}

// setArmCount sets arm's entry of a report. Cumulative counts never decrease (the API server
// rejects it), so a count below the entry's keeps the entry's.
func setArmCount(rep *promptsv1alpha1.PromptCounterReport, arm string, successes, failures int64) {
	for i := range rep.Spec.Arms {
		if a := &rep.Spec.Arms[i]; a.Arm == arm {
			a.Successes, a.Failures = max(a.Successes, successes), max(a.Failures, failures)
			return
		}
	}
	rep.Spec.Arms = append(rep.Spec.Arms, promptsv1alpha1.ArmCount{Arm: arm, Successes: successes, Failures: failures})
}

// eventsOf returns the notes of the events about the portfolio, by reason.
func eventsOf(t *testing.T, ns, name string) map[string][]string {
	t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// hasAny reports whether any of the texts contains sub.
func hasAny(texts []string, sub string) bool {
	for _, s := range texts {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
