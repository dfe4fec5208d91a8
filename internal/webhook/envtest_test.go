package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// managerNamespace plays the namespace the chart installs the manager into.
const managerNamespace = "promptfolio-system"

// countingHandler records the namespace of every request before passing it on.
type countingHandler struct {
	next admission.Handler
	mu   sync.Mutex
	byNS map[string]int
}

func (c *countingHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	c.mu.Lock()
	c.byNS[req.Namespace]++
	c.mu.Unlock()
	return c.next.Handle(ctx, req)
}

func (c *countingHandler) calls(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byNS[ns]
}

// TestInjectionThroughAPIServer registers the webhook with a real kube-apiserver, the way the
// chart configures it, and creates pods through the API server.
func TestInjectionThroughAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	log.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	config, source := chartWebhookConfiguration(t)
	t.Logf("MutatingWebhookConfiguration from %s", source)

	env, cfg := startControlPlane(t, envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregv1.MutatingWebhookConfiguration{config},
	})

	// Namespace "web" is served by node-local selectors, "shop" by sidecars.
	opts := DefaultOptions().Sidecar
	opts.NodePorts = map[string]int32{"web": 8701}
	counter := &countingHandler{next: NewPodInjector(env.Scheme, opts), byNS: map[string]int{}}
	wo := env.WebhookInstallOptions
	server := crwebhook.NewServer(crwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	server.Register(Path, &admission.Webhook{Handler: counter})
	ctx, cancel := context.WithCancel(context.Background())
	serverDone := make(chan error, 1)
	go func() { serverDone <- server.Start(ctx) }()
	var stopOnce sync.Once
	stopServer := func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-serverDone; err != nil {
				t.Errorf("webhook server: %v", err)
			}
		})
	}
	t.Cleanup(stopServer)
	waitForTLS(t, net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort)))

	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	appNS := createNamespace(t, c, "shop")
	nodeNS := createNamespace(t, c, "web")
	createNamespace(t, c, managerNamespace)

	annotations := map[string]string{AnnotationInject: "true", AnnotationPortfolios: "greeting"}
	tests := []struct {
		name, namespace string
		annotations     map[string]string
		wantSidecar     bool
		wantNode        bool // pointed at the node-local selector
		wantCalls       int  // requests the handler receives for this pod's namespace, at least
	}{
		{name: "annotated pod gets the sidecar", namespace: appNS, annotations: annotations, wantSidecar: true, wantCalls: 1},
		{name: "annotated pod of a node-mode namespace gets the node's selector", namespace: nodeNS, annotations: annotations, wantNode: true, wantCalls: 1},
		{name: "unannotated pod of a node-mode namespace untouched", namespace: nodeNS, wantCalls: 1},
		{name: "unannotated pod untouched", namespace: appNS, wantCalls: 1},
		{name: "manager's namespace never sent", namespace: managerNamespace, annotations: annotations},
		{name: "kube-system never sent", namespace: metav1.NamespaceSystem, annotations: annotations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter.calls(tt.namespace)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: tt.namespace, Annotations: tt.annotations},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					Containers:                   []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
				},
			}
			if err := c.Create(context.Background(), pod); err != nil {
				t.Fatalf("creating pod: %v", err)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			calls := counter.calls(tt.namespace) - before
			if tt.wantCalls == 0 && calls != 0 {
				t.Errorf("the webhook received %d requests for namespace %s; the namespaceSelector must exclude it", calls, tt.namespace)
			}
			if tt.wantCalls > 0 && calls < tt.wantCalls {
				t.Errorf("the webhook received %d requests, want at least %d", calls, tt.wantCalls)
			}
			hasSidecar := len(got.Spec.InitContainers) == 1 && got.Spec.InitContainers[0].Name == ContainerName
			if hasSidecar != tt.wantSidecar {
				t.Fatalf("sidecar injected = %v, want %v (init containers %v)", hasSidecar, tt.wantSidecar, got.Spec.InitContainers)
			}
			if tt.wantNode {
				// What the API server stored: no container or volume added, the node's address
				// from the downward API ahead of the URL that refers to it.
				env := got.Spec.Containers[0].Env
				if len(got.Spec.InitContainers) != 0 || len(got.Spec.Volumes) != 0 || len(env) != 3 ||
					env[0].Name != EnvHostIP || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef.FieldPath != "status.hostIP" ||
					env[1].Name != EnvSelectorURL || env[1].Value != "http://$(PROMPTFOLIO_HOST_IP):8701" ||
					got.Annotations[AnnotationMode] != ModeNode {
					t.Errorf("node-mode pod as stored: init containers %v, volumes %v, env %+v, annotations %v",
						got.Spec.InitContainers, got.Spec.Volumes, env, got.Annotations)
				}
				return
			}
			if !tt.wantSidecar {
				if len(got.Spec.Containers[0].Env) != 0 || len(got.Spec.Volumes) != 0 || got.Annotations[AnnotationInjected] != "" {
					t.Errorf("pod changed: env %v, volumes %v, annotations %v", got.Spec.Containers[0].Env, got.Spec.Volumes, got.Annotations)
				}
				return
			}
			sidecar := got.Spec.InitContainers[0]
			if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				t.Errorf("sidecar restartPolicy = %v, want Always", sidecar.RestartPolicy)
			}
			if sidecar.ReadinessProbe == nil || sidecar.ReadinessProbe.HTTPGet == nil {
				t.Error("sidecar has no readiness probe")
			}
			if envValue(got.Spec.Containers[0], EnvSelectorURL) == "" {
				t.Errorf("application container lacks %s", EnvSelectorURL)
			}
		})
	}

	t.Run("invalid portfolios annotation denied with a clear message", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: appNS, Annotations: map[string]string{
				AnnotationInject: "true", AnnotationPortfolios: "Not_A_Name",
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
		}
		err := c.Create(context.Background(), pod)
		if err == nil || !strings.Contains(err.Error(), AnnotationPortfolios) {
			t.Fatalf("creating a pod with an invalid annotation: error = %v, want a denial naming %s", err, AnnotationPortfolios)
		}
	})

	// The same webhook, now served the way the manager serves it.
	t.Run("served by SetupWebhook in a manager", func(t *testing.T) {
		stopServer()
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 env.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "127.0.0.1:0",
		})
		if err != nil {
			t.Fatal(err)
		}
		opts := DefaultOptions()
		opts.Enabled, opts.Port, opts.CertDir = true, wo.LocalServingPort, wo.LocalServingCertDir
		if err := SetupWebhook(mgr, opts); err != nil {
			t.Fatal(err)
		}
		mgrCtx, stopMgr := context.WithCancel(context.Background())
		mgrDone := make(chan error, 1)
		go func() { mgrDone <- mgr.Start(mgrCtx) }()
		defer func() {
			stopMgr()
			if err := <-mgrDone; err != nil {
				t.Errorf("manager: %v", err)
			}
		}()
		waitForTLS(t, net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort)))

		pod := annotatedPod(appNS)
		if err := c.Create(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		if !injected(pod) {
			t.Fatalf("pod created while the manager serves the webhook has no selector: %v", pod.Spec.InitContainers)
		}
	})
}

// startControlPlane starts etcd and kube-apiserver without CRDs, registering webhooks, and stops
// them when the test ends. It skips the test when the binaries are missing.
func startControlPlane(t *testing.T, webhooks envtest.WebhookInstallOptions) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    testenv.AssetsDir(),
		Scheme:                   testenv.NewScheme(),
		ControlPlaneStartTimeout: 2 * time.Minute,
		WebhookInstallOptions:    webhooks,
	}
	if _, err := os.Stat(filepath.Join(env.BinaryAssetsDirectory, "kube-apiserver")); err != nil {
		t.Skipf("control-plane binaries missing in %s: run `make envtest-assets`", env.BinaryAssetsDirectory)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env, cfg
}

// annotatedPod returns a pod asking for the selector of portfolio "greeting".
func annotatedPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: ns, Annotations: map[string]string{
			AnnotationInject: "true", AnnotationPortfolios: "greeting",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}
}

func createNamespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// waitForTLS waits until the webhook server completes TLS handshakes.
func waitForTLS(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness poll of a local test server
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook server at %s not serving: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chartWebhookConfiguration returns the MutatingWebhookConfiguration the chart renders when a
// helm binary is at hand ($HELM or bin/helm-*), so that the test covers the chart's selectors and
// failure policy; otherwise an equivalent built here. It says which one it returned.
func chartWebhookConfiguration(t *testing.T) (*admissionregv1.MutatingWebhookConfiguration, string) {
	t.Helper()
	helm := helmBinary()
	if helm == "" {
		return fallbackConfiguration(), "the test's copy (no helm binary; set HELM to test the chart)"
	}
	out := renderChart(t, helm, "--show-only", "templates/webhook.yaml")
	config, err := decodeMutatingConfiguration(out)
	if err != nil {
		t.Fatalf("reading the chart's webhook configuration: %v", err)
	}
	return config, "the chart (" + filepath.Base(helm) + ")"
}

// decodeMutatingConfiguration finds the MutatingWebhookConfiguration among YAML documents.
func decodeMutatingConfiguration(docs []byte) (*admissionregv1.MutatingWebhookConfiguration, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(docs), 4096)
	for {
		var obj admissionregv1.MutatingWebhookConfiguration
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("no MutatingWebhookConfiguration rendered")
			}
			return nil, err
		}
		if obj.Kind == "MutatingWebhookConfiguration" {
			return &obj, nil
		}
	}
}

// fallbackConfiguration mirrors charts/promptfolio/templates/webhook.yaml with default values.
func fallbackConfiguration() *admissionregv1.MutatingWebhookConfiguration {
	return &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "promptfolio-sidecar-injector"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:                    "inject.promptfolio.dev",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregv1.Ignore),
			ReinvocationPolicy:      ptr.To(admissionregv1.NeverReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](5),
			ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{
				Namespace: managerNamespace, Name: "promptfolio-webhook", Path: ptr.To(Path),
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn,
				Values: []string{managerNamespace, metav1.NamespaceSystem},
			}}},
			Rules: []admissionregv1.RuleWithOperations{{
				Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule: admissionregv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregv1.NamespacedScope),
				},
			}},
		}},
	}
}
