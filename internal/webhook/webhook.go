// Package webhook injects the promptfolio selector into pods: a mutating admission webhook, served
// by the manager, adds the selector as a native sidecar (an init container with restartPolicy
// Always) to pods annotated promptfolio.dev/inject: "true". In namespaces served by node-local
// selectors (SidecarOptions.NodePorts: a DaemonSet per namespace, chart value selector.mode
// node) it adds no container and points the pod's application at the selector of its node.
//
// The webhook changes nothing else: unannotated pods pass unchanged, and a pod that already has
// the selector is answered without a patch, so retries and re-invocations are harmless. The
// MutatingWebhookConfiguration (charts/promptfolio) sends only pods of namespaces other than the
// manager's own and kube-system, with failurePolicy Ignore, so the control plane never waits for
// the webhook to start itself; see docs/injection.md.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Path is the URL path the pod mutator is served at; the MutatingWebhookConfiguration names it.
const Path = "/mutate-v1-pod"

// PodInjector is the admission.Handler that adds the selector to annotated pods.
type PodInjector struct {
	decoder admission.Decoder
	opts    SidecarOptions
}

// NewPodInjector returns a PodInjector that decodes pods with scheme.
func NewPodInjector(scheme *runtime.Scheme, opts SidecarOptions) *PodInjector {
	return &PodInjector{decoder: admission.NewDecoder(scheme), opts: opts}
}

var _ admission.Handler = (*PodInjector)(nil)

// Handle answers one admission request for a pod.
func (p *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := p.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding pod: %w", err))
	}
	if pod.Annotations[AnnotationInject] != "true" {
		return admission.Allowed("injection not requested")
	}
	if injected(pod) {
		return admission.Allowed("selector already injected")
	}
	// The request's namespace: a pod's own is often empty at admission.
	in, err := newInjection(p.opts, req.Namespace, pod.Annotations)
	if err != nil {
		// Denying makes the mistake visible in the workload's events (FailedCreate); a pod
		// without its selector would fail later and far less clearly.
		return admission.Denied(err.Error())
	}
	in.apply(pod)
	mutated, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding pod: %w", err))
	}
	// The pod's name is often empty at admission (generateName); log what identifies it.
	log.FromContext(ctx).V(1).Info("injecting selector", "namespace", req.Namespace,
		"generateName", pod.GenerateName, "name", pod.Name, "portfolios", in.portfolios, "mode", in.mode())
	return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
}

// SetupWebhook serves the pod injector on its own webhook server, added to mgr, when
// opts.Enabled. The server runs on every replica (it needs no leader) and adds a readiness
// check named "webhook", so a replica is Ready only once it serves admission requests.
func SetupWebhook(mgr ctrl.Manager, opts Options) error {
	if !opts.Enabled {
		return nil
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("webhook options: %w", err)
	}
	server := crwebhook.NewServer(crwebhook.Options{Port: opts.Port, CertDir: filepath.Clean(opts.CertDir)})
	server.Register(Path, &admission.Webhook{Handler: NewPodInjector(mgr.GetScheme(), opts.Sidecar)})
	if err := mgr.Add(server); err != nil {
		return fmt.Errorf("adding webhook server: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return fmt.Errorf("adding webhook readiness check: %w", err)
	}
	return nil
}
