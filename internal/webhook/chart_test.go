package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// helmBinary returns $HELM, else the newest bin/helm-* of the repository, else "".
func helmBinary() string {
	if helm := os.Getenv("HELM"); helm != "" {
		return helm
	}
	matches, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "bin", "helm-*"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// renderChart runs helm template on charts/promptfolio with the release "promptfolio" in
// managerNamespace and the given extra arguments.
func renderChart(t *testing.T, helm string, args ...string) []byte {
	t.Helper()
	chart := filepath.Join(testenv.RepoRoot(), "charts", "promptfolio")
	cmd := exec.Command(helm, append([]string{"template", "promptfolio", chart, "--namespace", managerNamespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// TestChart installs the chart into a real API server: a server-side dry run of its rendering
// validates every object (the CRDs' CEL rules included), then helm install and helm upgrade
// must keep the generated webhook certificate and decision-token key. There is no kubelet, so
// nothing runs; the objects are what is tested.
func TestChart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	helm := helmBinary()
	if helm == "" {
		t.Skip("no helm binary: set HELM, or build bin/helm-<version> with the Makefile")
	}
	log.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	values := []string{
		"--set", "selector.namespaces={shop}",
		"--set", "networkPolicy.enabled=true",
		"--set", "grafanaDashboard.enabled=true",
		"--set", "manager.podDisruptionBudget.enabled=true",
	}
	env, cfg := startControlPlane(t, envtest.WebhookInstallOptions{})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, bin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "helm-cache"),
			"HELM_CONFIG_HOME="+filepath.Join(dir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(dir, "helm-data"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
		}
		return string(out)
	}
	kubectl := filepath.Join(env.BinaryAssetsDirectory, "kubectl")
	for _, ns := range []string{managerNamespace, "shop", "web"} {
		run(t, kubectl, "create", "namespace", ns)
	}

	for mode, values := range map[string][]string{"sidecar": values, "node": nodeModeValues} {
		t.Run("server-side dry run, "+mode+" mode", func(t *testing.T) {
			file := filepath.Join(dir, mode+".yaml")
			if err := os.WriteFile(file, renderChart(t, helm, values...), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Logf("server dry run:\n%s", run(t, kubectl, "apply", "--dry-run=server", "-f", file))
		})
	}

	chart := filepath.Join(testenv.RepoRoot(), "charts", "promptfolio")
	secretData := func(t *testing.T, ns, name string) string {
		return run(t, kubectl, "get", "secret", "-n", ns, name, "-o", "jsonpath={.data}")
	}
	var cert, key string
	t.Run("install", func(t *testing.T) {
		run(t, helm, append([]string{"install", "promptfolio", chart, "-n", managerNamespace}, values...)...)
		cert = secretData(t, managerNamespace, "promptfolio-webhook-tls")
		key = secretData(t, "shop", "promptfolio-selector-token")
		if !strings.Contains(cert, "ca.crt") || !strings.Contains(key, `"key"`) {
			t.Fatalf("webhook Secret %s, token Secret %s: want ca.crt and key", cert, key)
		}
		bundle := run(t, kubectl, "get", "mutatingwebhookconfiguration", "promptfolio-sidecar-injector",
			"-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		if bundle == "" || !strings.Contains(cert, bundle) {
			t.Errorf("caBundle is not the ca.crt of the webhook Secret")
		}
	})
	t.Run("upgrade keeps the certificate and the key", func(t *testing.T) {
		if cert == "" {
			t.Skip("install failed")
		}
		run(t, helm, append([]string{"upgrade", "promptfolio", chart, "-n", managerNamespace}, values...)...)
		if got := secretData(t, managerNamespace, "promptfolio-webhook-tls"); got != cert {
			t.Error("helm upgrade replaced the webhook certificate")
		}
		if got := secretData(t, "shop", "promptfolio-selector-token"); got != key {
			t.Error("helm upgrade replaced the decision-token key")
		}
	})
	// Node mode binds the DaemonSet's ServiceAccount itself: with selector.serviceAccounts set,
	// no group binding covers it.
	nodeValues := append(slices.Clone(values), "--set", "selector.mode=node", "--set", "selector.serviceAccounts={default}")
	t.Run("upgrade to node mode keeps the key", func(t *testing.T) {
		if key == "" {
			t.Skip("install failed")
		}
		run(t, helm, append([]string{"upgrade", "promptfolio", chart, "-n", managerNamespace}, nodeValues...)...)
		if got := secretData(t, "shop", "promptfolio-selector-token"); got != key {
			t.Error("the upgrade to node mode replaced the decision-token key, which outstanding decisions are signed with")
		}
		run(t, kubectl, "get", "daemonset", "-n", "shop", "promptfolio-node-selector")
	})

	// The manager, with the chart's ClusterRole, and a selector, with the chart's Role, each do
	// their whole job; without any one of the permissions listed they fail, and say so.
	for _, p := range []permissions{{
		who:  "manager",
		role: &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "promptfolio-manager"}},
		user: managerUser(),
		// Without a permission the manager still starts and reports its arms and conditions.
		cases: []permissionCase{
			{name: "all granted"},
			{name: "without promptarms create", resource: "promptarms", verbs: []string{"create"}, wantErrContains: "arms, conditions"},
			{name: "without promptportfolios/status patch", resource: "promptportfolios/status", verbs: []string{"patch"}, wantErrContains: "arms, conditions"},
		},
		granted: 60 * time.Second, removed: 10 * time.Second,
		exercise: func(c client.Client, i int, wait time.Duration) error {
			return exerciseManager(c, cfg, "shop", fmt.Sprintf("orders%d", i), wait)
		},
	}, {
		who:  "selector",
		role: &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "promptfolio-selector"}},
		user: workloadUser("shop"),
		// The informer's initial list is a watch that streams the current objects, falling back
		// to a list, so either verb alone gets a selector started; it is granted both, as
		// informers expect, and fails without both.
		cases: []permissionCase{
			{name: "all granted"},
			{name: "without promptarms list and watch", resource: "promptarms", verbs: []string{"list", "watch"}, wantErrContains: "not ready"},
			{name: "without promptcounterreports get", resource: "promptcounterreports", verbs: []string{"get"}, wantErrContains: "not ready"},
			{name: "without promptcounterreports create", resource: "promptcounterreports", verbs: []string{"create"}, wantErrContains: "reward 1 never reached"},
			{name: "without promptcounterreports patch", resource: "promptcounterreports", verbs: []string{"patch"}, wantErrContains: "reward 2 never reached"},
		},
		// Long enough for what must happen, short enough for what never will.
		granted: 30 * time.Second, removed: 8 * time.Second,
		exercise: func(c client.Client, i int, wait time.Duration) error {
			return exerciseSelector(c, cfg, workloadUser("shop"), "shop", fmt.Sprintf("greeting%d", i), wait)
		},
	}, {
		// The node-local selector, with the ServiceAccount of its DaemonSet; its Role is the one
		// checked verb by verb above.
		who:     "node selector",
		role:    &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "promptfolio-selector"}},
		user:    nodeSelectorUser("shop"),
		cases:   []permissionCase{{name: "all granted"}},
		granted: 30 * time.Second, removed: 8 * time.Second,
		exercise: func(c client.Client, i int, wait time.Duration) error {
			return exerciseSelector(c, cfg, nodeSelectorUser("shop"), "shop", fmt.Sprintf("node%d", i), wait)
		},
	}} {
		t.Run(p.who+" permissions", func(t *testing.T) {
			if key == "" {
				t.Skip("install failed")
			}
			checkPermissions(t, cfg, p)
		})
	}
}

// permissions is a table of one component's RBAC: it must do its whole job with every permission
// its role grants, and fail, saying why, without any one of those listed.
type permissions struct {
	who   string        // the component, for messages
	role  client.Object // names the role the chart binds to user
	user  rest.ImpersonationConfig
	cases []permissionCase
	// granted and removed bound how long exercise waits with every permission and without one.
	granted, removed time.Duration
	exercise         func(c client.Client, i int, wait time.Duration) error
}

// permissionCase is one row of a permissions table.
type permissionCase struct {
	name            string
	resource        string   // whose verbs are removed from the role
	verbs           []string // removed; none for the role as the chart makes it
	wantErrContains string
}

// checkPermissions runs p.exercise once per case, with the case's verbs removed from p.role for
// the time of the case.
func checkPermissions(t *testing.T, cfg *rest.Config, p permissions) {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range p.cases {
		t.Run(tt.name, func(t *testing.T) {
			wait := p.granted
			if len(tt.verbs) > 0 {
				restore := removeVerbs(t, c, p.role.DeepCopyObject().(client.Object), p.user, "shop", tt.resource, tt.verbs)
				defer restore()
				wait = p.removed
			}
			err := p.exercise(c, i, wait)
			switch {
			case len(tt.verbs) == 0 && err != nil:
				t.Fatalf("%s with every permission of the chart's role: %v", p.who, err)
			case len(tt.verbs) > 0 && err == nil:
				t.Fatalf("%s without %v on %s did its job: the role grants more than it needs", p.who, tt.verbs, tt.resource)
			case len(tt.verbs) > 0 && !strings.Contains(err.Error(), tt.wantErrContains):
				t.Fatalf("%s without %v on %s: error = %v, want one containing %q", p.who, tt.verbs, tt.resource, err, tt.wantErrContains)
			case err != nil:
				t.Logf("without %v on %s: %v", tt.verbs, tt.resource, err)
			}
		})
	}
}

// workloadUser is who a selector in ns is to the API server: the namespace's default
// ServiceAccount, which the chart's selector RoleBinding covers.
func workloadUser(ns string) rest.ImpersonationConfig {
	return rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":default",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// removeVerbs removes verbs on resource from role (a Role or ClusterRole of the chart; a rule
// left with no verb goes) and returns a function that restores it. Both wait until the API
// server's authorizer answers accordingly for user in ns.
func removeVerbs(t *testing.T, c client.Client, role client.Object, user rest.ImpersonationConfig, ns, resource string, verbs []string) func() {
	t.Helper()
	ctx := context.Background()
	rulesOf := func(obj client.Object) *[]rbacv1.PolicyRule {
		switch o := obj.(type) {
		case *rbacv1.Role:
			return &o.Rules
		case *rbacv1.ClusterRole:
			return &o.Rules
		}
		t.Fatalf("%T holds no rules", obj)
		return nil
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(role), role); err != nil {
		t.Fatal(err)
	}
	original := slices.Clone(*rulesOf(role))
	var reduced []rbacv1.PolicyRule
	for _, rule := range original {
		if slices.Contains(rule.Resources, resource) {
			rule.Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return slices.Contains(verbs, v) })
		}
		if len(rule.Verbs) > 0 {
			reduced = append(reduced, rule)
		}
	}
	setRules := func(rules []rbacv1.PolicyRule, allowed bool) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(role), role); err != nil {
			t.Fatal(err)
		}
		*rulesOf(role) = rules
		if err := c.Update(ctx, role); err != nil {
			t.Fatal(err)
		}
		waitForAuthorization(t, c, user, ns, resource, verbs[0], allowed)
	}
	setRules(reduced, false)
	return func() { setRules(original, true) }
}

// waitForAuthorization waits until user is (or is not) allowed verb on resource in ns, as the
// API server's authorizer sees it.
func waitForAuthorization(t *testing.T, c client.Client, user rest.ImpersonationConfig, ns, resource, verb string, allowed bool) {
	t.Helper()
	res, sub, _ := strings.Cut(resource, "/")
	apiGroup := v1alpha1.GroupVersion.Group
	deadline := time.Now().Add(10 * time.Second)
	for {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.UserName, Groups: user.Groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: apiGroup, Resource: res, Subresource: sub,
			},
		}}
		if err := c.Create(context.Background(), review); err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed == allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("authorizer still answers allowed=%v for %s %s", review.Status.Allowed, verb, resource)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeSelectorUser is who a node-local selector in ns is to the API server: the ServiceAccount of
// the chart's DaemonSet.
func nodeSelectorUser(ns string) rest.ImpersonationConfig {
	return rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":promptfolio-node-selector",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// managerUser is who the manager is to the API server: the chart's manager ServiceAccount.
func managerUser() rest.ImpersonationConfig {
	return rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + managerNamespace + ":promptfolio-manager",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + managerNamespace, "system:authenticated"},
	}
}

// exerciseManager runs the controllers, with leader election, under the chart's manager
// ServiceAccount, and returns an error unless a new portfolio in ns gets its seed arms and
// becomes Ready.
func exerciseManager(c client.Client, admin *rest.Config, ns, portfolio string, wait time.Duration) (err error) {
	ctx := context.Background()
	config := rest.CopyConfig(admin)
	config.Impersonate = managerUser()
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  testenv.NewScheme(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          true,
		LeaderElectionID:        "manager.promptfolio.dev",
		LeaderElectionNamespace: managerNamespace,
		// Every case of the test registers the same controller again.
		Controller: crconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{}); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	defer func() {
		stop()
		if runErr := <-done; err == nil && runErr != nil {
			err = fmt.Errorf("manager: %w", runErr)
		}
	}()

	pf := &v1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: portfolio, Namespace: ns},
		Spec: v1alpha1.PromptPortfolioSpec{Prompts: []v1alpha1.SeedPrompt{
			{Name: "plain", Text: "Confirm the order."},
			{Name: "warm", Text: "Thank the customer and confirm the order."},
		}},
	}
	if err := c.Create(ctx, pf); err != nil {
		return err
	}
	var arms v1alpha1.PromptArmList
	for deadline := time.Now().Add(wait); ; time.Sleep(200 * time.Millisecond) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pf), pf); err != nil {
			return err
		}
		if err := c.List(ctx, &arms, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelPortfolio: pf.Name}); err != nil {
			return err
		}
		ready := apimeta.IsStatusConditionTrue(pf.Status.Conditions, v1alpha1.ConditionReady)
		if len(arms.Items) == 2 && ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %d arms, conditions %+v", wait, len(arms.Items), pf.Status.Conditions)
		}
	}
}

// exerciseSelector runs a selector for portfolio in ns as user (a ServiceAccount the chart's
// selector Role is bound to), with the chart's token Secret as its key file. It returns the first thing that went wrong: the selector not getting
// ready (its counter report not read or created), a reward not reaching its report, an arm
// created later never drawn, or the graceful stop failing.
func exerciseSelector(c client.Client, admin *rest.Config, user rest.ImpersonationConfig, ns, portfolio string, wait time.Duration) (err error) {
	ctx := context.Background()
	armName := portfolio + "-plain"
	pf := &v1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: portfolio, Namespace: ns},
		Spec:       v1alpha1.PromptPortfolioSpec{Prompts: []v1alpha1.SeedPrompt{{Name: "plain", Text: "Greet the customer."}}},
	}
	arm := &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: armName, Namespace: ns, Labels: map[string]string{v1alpha1.LabelPortfolio: portfolio}},
		Spec:       v1alpha1.PromptArmSpec{Portfolio: portfolio, Prompt: "Greet the customer."},
	}
	for _, obj := range []client.Object{pf, arm} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s: %w", obj.GetName(), err)
		}
	}
	var token corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: DefaultTokenSecret}, &token); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "selector-key-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	keyFile := filepath.Join(dir, TokenSecretKey)
	if err := os.WriteFile(keyFile, token.Data[TokenSecretKey], 0o600); err != nil {
		return err
	}

	workload := rest.CopyConfig(admin)
	workload.Impersonate = user
	writer := portfolio + "-writer"
	sel, err := selector.New(selector.Config{
		Namespace: ns, Portfolios: []string{portfolio}, Addr: "127.0.0.1:0", KeyFile: keyFile, Writer: writer,
		FlushInterval: 100 * time.Millisecond, APITimeout: 2 * time.Second, ShutdownTimeout: 3 * time.Second,
	}, workload)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(log.IntoContext(ctx, log.Log))
	done := make(chan error, 1)
	go func() { done <- sel.Run(runCtx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			if runErr := <-done; err == nil && runErr != nil {
				err = fmt.Errorf("selector: %w", runErr)
			}
		}
	}()

	call := func(method, path, body string) (int, map[string]any) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		sel.Handler().ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	// poll calls check until it reports true or wait passes.
	poll := func(check func() bool) bool {
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if check() {
				return true
			}
		}
		return false
	}
	var lastReady map[string]any
	if !poll(func() bool {
		code, body := call(http.MethodGet, selector.PathReadyz, "")
		lastReady = body
		return code == http.StatusOK
	}) {
		return fmt.Errorf("selector not ready within %s: %v", wait, lastReady)
	}
	reportKey := client.ObjectKey{Namespace: ns, Name: counters.ReportName(writer, portfolio)}
	var report v1alpha1.PromptCounterReport
	successes := func() int64 {
		if c.Get(ctx, reportKey, &report) != nil {
			return -1
		}
		return counters.Totals(nil, []*v1alpha1.PromptCounterReport{&report})[armName].Successes
	}

	// Two rewards, each waited for: the first write creates the report, the second patches it.
	for n := int64(1); n <= 2; n++ {
		code, drawn := call(http.MethodGet, selector.PathDraw+"?portfolio="+portfolio, "")
		if code != http.StatusOK {
			return fmt.Errorf("draw: %d %v", code, drawn)
		}
		reward, _ := json.Marshal(map[string]any{"decision": drawn["decision"], "success": true})
		if code, body := call(http.MethodPost, selector.PathReward, string(reward)); code != http.StatusAccepted {
			return fmt.Errorf("reward: %d %v", code, body)
		}
		if !poll(func() bool { return successes() == n }) {
			return fmt.Errorf("acknowledged reward %d never reached the report %s", n, reportKey.Name)
		}
	}
	later := &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: portfolio + "-warm", Namespace: ns, Labels: map[string]string{v1alpha1.LabelPortfolio: portfolio}},
		Spec:       v1alpha1.PromptArmSpec{Portfolio: portfolio, Prompt: "Greet the customer warmly."},
	}
	if err := c.Create(ctx, later); err != nil {
		return err
	}
	if !poll(func() bool {
		_, d := call(http.MethodGet, selector.PathDraw+"?portfolio="+portfolio, "")
		return d["arm"] == later.Name
	}) {
		return fmt.Errorf("the selector never saw arm %s, created after it started", later.Name)
	}

	stop()
	stopped = true
	if err := <-done; err != nil {
		return fmt.Errorf("graceful stop: %w", err)
	}
	if got := successes(); got != 2 {
		return fmt.Errorf("report %s holds %d successes after the graceful stop, want 2", reportKey.Name, got)
	}
	return nil
}
