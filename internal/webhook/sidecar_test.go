package webhook

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func TestParsePortfolios(t *testing.T) {
	tests := []struct {
		name, value string
		want        []string
		wantErr     string
	}{
		{name: "one", value: "greeting", want: []string{"greeting"}},
		{name: "several with spaces", value: " greeting , checkout", want: []string{"greeting", "checkout"}},
		{name: "duplicates and empty fields dropped", value: "a,,b,a,", want: []string{"a", "b"}},
		{name: "empty", value: "", wantErr: "at least one"},
		{name: "only commas", value: " , ,", wantErr: "at least one"},
		{name: "uppercase", value: "Greeting", wantErr: "not a PromptPortfolio name"},
		{name: "path", value: "ns/greeting", wantErr: "not a PromptPortfolio name"},
		{name: "too many", value: manyNames(maxPortfolios + 1), wantErr: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, "parsePortfolios", parsePortfolios, slices.Equal, tt.value, tt.want, tt.wantErr)
		})
	}
}

func TestParseNodePorts(t *testing.T) {
	tests := []struct {
		name, value string
		want        map[string]int32
		wantErr     string
	}{
		{name: "empty", value: "", want: map[string]int32{}},
		{name: "one", value: "shop=8686", want: map[string]int32{"shop": 8686}},
		{name: "several with spaces", value: " shop=8686 , web=8701,", want: map[string]int32{"shop": 8686, "web": 8701}},
		{name: "no port", value: "shop", wantErr: "want namespace=port"},
		{name: "port zero", value: "shop=0", wantErr: "between 1 and 65535"},
		{name: "port too high", value: "shop=65536", wantErr: "between 1 and 65535"},
		{name: "not a number", value: "shop=http", wantErr: "between 1 and 65535"},
		{name: "bad namespace", value: "Shop=8686", wantErr: "not a namespace name"},
		{name: "namespace twice", value: "shop=8686,shop=8701", wantErr: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, "ParseNodePorts", ParseNodePorts, maps.Equal, tt.value, tt.want, tt.wantErr)
		})
	}
}

// checkParse fails the test unless parse (named name) returns an error containing wantErr for
// value when wantErr is set, and otherwise no error and a result equal to want.
func checkParse[T any](t *testing.T, name string, parse func(string) (T, error), equal func(T, T) bool, value string, want T, wantErr string) {
	t.Helper()
	got, err := parse(value)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s(%q) error = %v, want one containing %q", name, value, err, wantErr)
		}
		return
	}
	if err != nil || !equal(got, want) {
		t.Fatalf("%s(%q) = %v, %v; want %v", name, value, got, err, want)
	}
}

func manyNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "p" + strings.Repeat("x", i)
	}
	return strings.Join(names, ",")
}

// TestHandle drives the handler with admission requests, without an API server.
func TestHandle(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions().Sidecar
	nodeOpts := opts
	nodeOpts.NodePorts = map[string]int32{"shop": 8701}

	app := corev1.Container{Name: "app", Image: "example/app"}
	annotated := func(extra map[string]string) *corev1.Pod {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "shop", Annotations: map[string]string{
				AnnotationInject: "true", AnnotationPortfolios: "greeting,checkout",
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{app}},
		}
		for k, v := range extra {
			pod.Annotations[k] = v
		}
		return pod
	}
	alreadyInjected := annotated(nil)
	injection{opts: opts, portfolios: []string{"greeting"}, tokenSecret: "t"}.apply(alreadyInjected)
	ownURL := annotated(nil)
	ownURL.Spec.Containers[0].Env = []corev1.EnvVar{{Name: EnvSelectorURL, Value: "http://elsewhere:1"}}
	nodeInjected := annotated(nil)
	injection{opts: nodeOpts, portfolios: []string{"greeting"}, tokenSecret: opts.TokenSecret, nodePort: 8701}.apply(nodeInjected)
	twoContainers := annotated(nil)
	twoContainers.Spec.Containers = append(twoContainers.Spec.Containers, corev1.Container{Name: "worker", Image: "example/worker"})

	// noSidecar fails unless pod has no selector container and no volume of the webhook.
	noSidecar := func(t *testing.T, pod *corev1.Pod) {
		t.Helper()
		if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Volumes) != 0 {
			t.Errorf("node mode added init containers %v and volumes %v, want none", pod.Spec.InitContainers, pod.Spec.Volumes)
		}
	}
	// pointsAtNode fails unless every container reaches the node's selector on port.
	pointsAtNode := func(t *testing.T, pod *corev1.Pod, port string) {
		t.Helper()
		for _, c := range pod.Spec.Containers {
			names := make([]string, len(c.Env))
			for i, e := range c.Env {
				names[i] = e.Name
			}
			host := slices.Index(names, EnvHostIP)
			url := slices.Index(names, EnvSelectorURL)
			if host < 0 || c.Env[host].ValueFrom == nil || c.Env[host].ValueFrom.FieldRef == nil || c.Env[host].ValueFrom.FieldRef.FieldPath != "status.hostIP" {
				t.Errorf("container %s: %s is not the node's address from the downward API: %v", c.Name, EnvHostIP, c.Env)
				continue
			}
			if want := "http://$(" + EnvHostIP + "):" + port; url < host || c.Env[url].Value != want {
				t.Errorf("container %s: env %v; want %s = %q after %s", c.Name, names, EnvSelectorURL, want, EnvHostIP)
			}
			if got := envValue(c, EnvPortfolios); got != "greeting,checkout" {
				t.Errorf("container %s: %s = %q", c.Name, EnvPortfolios, got)
			}
		}
	}

	tests := []struct {
		name        string
		opts        *SidecarOptions // nil: opts
		pod         *corev1.Pod
		wantAllowed bool
		wantPatch   bool
		check       func(t *testing.T, pod *corev1.Pod)
	}{
		{name: "unannotated", pod: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{app}}}, wantAllowed: true},
		{name: "inject not true", pod: annotated(map[string]string{AnnotationInject: "yes"}), wantAllowed: true},
		{name: "already injected", pod: alreadyInjected, wantAllowed: true},
		{name: "no portfolios", pod: annotated(map[string]string{AnnotationPortfolios: ""}), wantAllowed: false},
		{name: "injected", pod: annotated(nil), wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			sidecar := pod.Spec.InitContainers[0]
			if sidecar.Name != ContainerName || sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				t.Errorf("first init container = %s (restartPolicy %v), want the native sidecar %s", sidecar.Name, sidecar.RestartPolicy, ContainerName)
			}
			// The image's entrypoint (the selector-only build in the selector image) runs the
			// args, whose first is the subcommand.
			if sidecar.Image != DefaultImage || len(sidecar.Command) > 0 || len(sidecar.Args) == 0 || sidecar.Args[0] != "selector" {
				t.Errorf("sidecar image %s, command %v, args %v; want %s running its entrypoint with args \"selector ...\"", sidecar.Image, sidecar.Command, sidecar.Args, DefaultImage)
			}
			if !slices.Contains(sidecar.Args, "--state-dir="+StateMountPath) || !slices.Contains(sidecar.Args, "--ack=disk") ||
				!slices.ContainsFunc(sidecar.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == StateVolumeName && m.MountPath == StateMountPath }) ||
				!slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == StateVolumeName && v.EmptyDir != nil }) {
				t.Errorf("the sidecar does not keep its write-ahead record in an emptyDir: args %v, mounts %v", sidecar.Args, sidecar.VolumeMounts)
			}
			if !slices.Contains(sidecar.Args, "--portfolios=greeting,checkout") {
				t.Errorf("sidecar args %v do not name the portfolios", sidecar.Args)
			}
			if got := envValue(pod.Spec.Containers[0], EnvSelectorURL); got != "http://127.0.0.1:8686" {
				t.Errorf("%s = %q", EnvSelectorURL, got)
			}
			if v := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]; v.Secret == nil || v.Secret.SecretName != DefaultTokenSecret {
				t.Errorf("token volume = %+v, want Secret %s", v, DefaultTokenSecret)
			}
			if pod.Annotations[AnnotationInjected] != "greeting,checkout" || pod.Annotations[AnnotationMode] != ModeSidecar {
				t.Errorf("annotations %s = %q, %s = %q", AnnotationInjected, pod.Annotations[AnnotationInjected], AnnotationMode, pod.Annotations[AnnotationMode])
			}
		}},
		{name: "node mode: no sidecar, the node's selector", opts: &nodeOpts, pod: twoContainers, wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			noSidecar(t, pod)
			pointsAtNode(t, pod, "8701")
			if pod.Annotations[AnnotationInjected] != "greeting,checkout" || pod.Annotations[AnnotationMode] != ModeNode {
				t.Errorf("annotations %s = %q, %s = %q", AnnotationInjected, pod.Annotations[AnnotationInjected], AnnotationMode, pod.Annotations[AnnotationMode])
			}
		}},
		{name: "node mode: already pointed at the node", opts: &nodeOpts, pod: nodeInjected, wantAllowed: true},
		{name: "node mode: no portfolios denied", opts: &nodeOpts, pod: annotated(map[string]string{AnnotationPortfolios: ","}), wantAllowed: false},
		{name: "node mode: the default token Secret named", opts: &nodeOpts, pod: annotated(map[string]string{AnnotationTokenSecret: DefaultTokenSecret}), wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			noSidecar(t, pod)
			pointsAtNode(t, pod, "8701")
		}},
		{name: "node mode: a token Secret of its own gets the sidecar", opts: &nodeOpts, pod: annotated(map[string]string{AnnotationTokenSecret: "shop-token"}), wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			if !injected(pod) || pod.Annotations[AnnotationMode] != ModeSidecar || envValue(pod.Spec.Containers[0], EnvSelectorURL) != "http://127.0.0.1:8686" {
				t.Errorf("init containers %v, mode %q, env %v: want the sidecar", pod.Spec.InitContainers, pod.Annotations[AnnotationMode], pod.Spec.Containers[0].Env)
			}
		}},
		{name: "node mode elsewhere: this namespace gets the sidecar", opts: &SidecarOptions{Image: opts.Image, Port: opts.Port, TokenSecret: opts.TokenSecret, NodePorts: map[string]int32{"web": 8701}},
			pod: annotated(nil), wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
				if !injected(pod) || pod.Annotations[AnnotationMode] != ModeSidecar {
					t.Errorf("init containers %v, mode %q: want the sidecar", pod.Spec.InitContainers, pod.Annotations[AnnotationMode])
				}
			}},
		{name: "node mode: the application's own URL kept", opts: &nodeOpts, pod: ownURL, wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			noSidecar(t, pod)
			if got := envValue(pod.Spec.Containers[0], EnvSelectorURL); got != "http://elsewhere:1" {
				t.Errorf("%s = %q, want the application's own value", EnvSelectorURL, got)
			}
		}},
		{name: "token secret from annotation", pod: annotated(map[string]string{AnnotationTokenSecret: "shop-token"}), wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			if v := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]; v.Secret.SecretName != "shop-token" {
				t.Errorf("token Secret = %s, want shop-token", v.Secret.SecretName)
			}
		}},
		{name: "application's own variable kept", pod: ownURL, wantAllowed: true, wantPatch: true, check: func(t *testing.T, pod *corev1.Pod) {
			if got := envValue(pod.Spec.Containers[0], EnvSelectorURL); got != "http://elsewhere:1" {
				t.Errorf("%s = %q, want the application's own value", EnvSelectorURL, got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create,
				Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
			}}
			o := opts
			if tt.opts != nil {
				o = *tt.opts
			}
			resp := NewPodInjector(scheme, o).Handle(context.Background(), req)
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed = %v (%v), want %v", resp.Allowed, resp.Result, tt.wantAllowed)
			}
			if !tt.wantAllowed && resp.Result.Code != http.StatusForbidden {
				t.Errorf("denial code = %d, want 403", resp.Result.Code)
			}
			if got := len(resp.Patches) > 0; got != tt.wantPatch {
				t.Fatalf("patched = %v (%d operations), want %v", got, len(resp.Patches), tt.wantPatch)
			}
			if tt.check != nil {
				tt.check(t, applyResponse(t, raw, resp))
			}
		})
	}
}

// applyResponse applies the response's JSON patch to raw and decodes the result.
func applyResponse(t *testing.T, raw []byte, resp admission.Response) *corev1.Pod {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("applying the patch: %v", err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(out, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
