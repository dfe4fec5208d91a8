package webhook

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Annotations a workload's pod template uses to ask for the selector.
const (
	// AnnotationInject set to "true" asks for the selector sidecar. Any other value, or none,
	// leaves the pod untouched.
	AnnotationInject = "promptfolio.dev/inject"
	// AnnotationPortfolios lists the PromptPortfolios, in the pod's namespace, the selector
	// serves: comma-separated names, for example "greeting,checkout". Required with inject.
	AnnotationPortfolios = "promptfolio.dev/portfolios"
	// AnnotationTokenSecret optionally names the Secret with the decision-token key when it is
	// not the manager's default (--selector-token-secret).
	AnnotationTokenSecret = "promptfolio.dev/token-secret"
	// AnnotationInjected is set by the webhook on pods it changed, to the portfolios served.
	AnnotationInjected = "promptfolio.dev/injected"
	// AnnotationMode is set by the webhook on pods it changed, to ModeSidecar or ModeNode: where
	// the pod's selector runs.
	AnnotationMode = "promptfolio.dev/selector-mode"
)

// Values of AnnotationMode.
const (
	// ModeSidecar: the pod has its own selector, a native sidecar reached over its loopback.
	ModeSidecar = "sidecar"
	// ModeNode: the pod uses the node-local selector of its node (a DaemonSet of its namespace),
	// reached at the node's address and the namespace's host port (SidecarOptions.NodePorts).
	ModeNode = "node"
)

// Names of what the webhook adds to a pod.
const (
	// ContainerName is the name of the injected init container. A pod that already has a
	// container or init container of this name is left alone, which makes injection idempotent.
	ContainerName = "promptfolio-selector"
	// TokenVolumeName is the Secret volume with the decision-token key.
	TokenVolumeName = "promptfolio-selector-token"
	// TokenMountPath is where the selector reads the decision-token key.
	TokenMountPath = "/var/run/promptfolio/token"
	// StateVolumeName is the emptyDir with the selector's write-ahead record: it outlives a
	// restart of the sidecar container, so a reward acknowledged before a SIGKILL or OOMKill is
	// replayed by the next start, and goes with the pod.
	StateVolumeName = "promptfolio-selector-state"
	// StateMountPath is where the selector keeps its write-ahead record.
	StateMountPath = "/var/run/promptfolio/state"
	// TokenSecretKey is the key of the token Secret's data that holds the signing key: raw
	// bytes or base64 text of at least 32 bytes.
	TokenSecretKey = "key"
	// PortName names the selector's port.
	PortName = "pf-selector"
)

// Environment variables set on the application's containers.
const (
	// EnvSelectorURL is the base URL of the selector, for example http://127.0.0.1:8686.
	EnvSelectorURL = "PROMPTFOLIO_SELECTOR_URL"
	// EnvPortfolios repeats the portfolios the selector serves, comma-separated.
	EnvPortfolios = "PROMPTFOLIO_PORTFOLIOS"
	// EnvHostIP is the address of the pod's node (status.hostIP), set in node mode ahead of
	// EnvSelectorURL, whose value refers to it as $(PROMPTFOLIO_HOST_IP).
	EnvHostIP = "PROMPTFOLIO_HOST_IP"
)

// Environment variables of the selector, from the downward API. The selector's writer id is
// POD_NAME plus the start of POD_UID (selector.WriterID): the same for every restart of the
// sidecar, which continues its counter reports from its write-ahead record, and owned by the pod,
// so garbage collection deletes the reports with it.
const (
	envPodName = "POD_NAME"
	envPodNS   = "POD_NAMESPACE"
	envPodUID  = "POD_UID"
	// envPodIP is the pod's IP, which the selector advertises as the home of its decisions.
	envPodIP = "POD_IP"
)

// maxPortfolios bounds the list of one pod's annotation.
const maxPortfolios = 32

// parsePortfolios splits the portfolios annotation into distinct, valid names, in order.
func parsePortfolios(value string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	for _, field := range strings.Split(value, ",") {
		name := strings.TrimSpace(field)
		if name == "" || seen[name] {
			continue
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("%s: %q is not a PromptPortfolio name: %s", AnnotationPortfolios, name, strings.Join(errs, "; "))
		}
		seen[name] = true
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s must list at least one PromptPortfolio when %s is \"true\"", AnnotationPortfolios, AnnotationInject)
	}
	if len(names) > maxPortfolios {
		return nil, fmt.Errorf("%s lists %d portfolios; at most %d", AnnotationPortfolios, len(names), maxPortfolios)
	}
	return names, nil
}

// injection is what one pod gets: derived from the options and the pod's annotations.
type injection struct {
	opts        SidecarOptions
	portfolios  []string
	tokenSecret string
	// nodePort is the host port of the node-local selector that serves the pod, or 0 when the
	// pod gets a sidecar.
	nodePort int32
}

// newInjection decides what a pod of namespace ns with annotations gets. A namespace listed in
// opts.NodePorts is served by node-local selectors, unless the pod names a token Secret of its
// own: the node's selector verifies decisions with the key of opts.TokenSecret only.
func newInjection(opts SidecarOptions, ns string, annotations map[string]string) (injection, error) {
	portfolios, err := parsePortfolios(annotations[AnnotationPortfolios])
	if err != nil {
		return injection{}, err
	}
	in := injection{opts: opts, portfolios: portfolios, tokenSecret: opts.TokenSecret}
	if name := annotations[AnnotationTokenSecret]; name != "" {
		in.tokenSecret = name
	}
	if port, ok := opts.NodePorts[ns]; ok && in.tokenSecret == opts.TokenSecret {
		in.nodePort = port
	}
	return in, nil
}

// mode is the value of AnnotationMode for the pod.
func (in injection) mode() string {
	if in.nodePort != 0 {
		return ModeNode
	}
	return ModeSidecar
}

// selectorURL is where the application reaches the selector: over the pod's loopback, or, in
// node mode, at its node's address, which the kubelet substitutes for $(PROMPTFOLIO_HOST_IP).
func (in injection) selectorURL() string {
	if in.nodePort != 0 {
		return "http://$(" + EnvHostIP + "):" + strconv.Itoa(int(in.nodePort))
	}
	return "http://127.0.0.1:" + strconv.Itoa(int(in.opts.Port))
}

// container returns the selector as a native sidecar: an init container that keeps running
// (restartPolicy Always), started before the application's containers and stopped after them.
func (in injection) container() corev1.Container {
	port := intstr.FromString(PortName)
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}},
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
			FailureThreshold: failures,
		}
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    in.opts.CPURequest,
			corev1.ResourceMemory: in.opts.MemoryRequest,
		},
	}
	if !in.opts.MemoryLimit.IsZero() {
		resources.Limits = corev1.ResourceList{corev1.ResourceMemory: in.opts.MemoryLimit}
	}
	return corev1.Container{
		Name:            ContainerName,
		Image:           in.opts.Image,
		ImagePullPolicy: in.opts.PullPolicy,
		RestartPolicy:   ptr.To(corev1.ContainerRestartPolicyAlways),
		Args:            in.args(),
		Env: []corev1.EnvVar{
			fieldEnv(envPodName, "metadata.name"),
			fieldEnv(envPodNS, "metadata.namespace"),
			fieldEnv(envPodUID, "metadata.uid"),
			fieldEnv(envPodIP, "status.podIP"),
		},
		Ports: []corev1.ContainerPort{{Name: PortName, ContainerPort: in.opts.Port, Protocol: corev1.ProtocolTCP}},
		// The application's containers start once the selector answers /healthz, so their first
		// draw does not meet a closed port; the pod is Ready only while the selector's cache of
		// PromptArms is synced.
		StartupProbe:   probe("/healthz", 1, 60),
		ReadinessProbe: probe("/readyz", 5, 2),
		LivenessProbe:  probe("/healthz", 10, 3),
		Resources:      resources,
		VolumeMounts: []corev1.VolumeMount{
			{Name: TokenVolumeName, MountPath: TokenMountPath, ReadOnly: true},
			{Name: StateVolumeName, MountPath: StateMountPath},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(in.opts.RunAsUser),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// args are the subcommand and flags of `promptfolio selector` (internal/cli/selector). The container
// sets no command: the image's entrypoint runs them, /promptfolio-selector of the selector image
// (the selector-only build, whose one subcommand is still named selector) or /promptfolio of the
// full image. The selector listens on all addresses so that the kubelet can probe it and
// Prometheus can scrape /metrics; the application uses the loopback address. Every selector of a
// namespace reads the same key file, mounted from the token Secret, so a reward may reach any of
// them; a rotated Secret reaches the file within the kubelet's sync period, and the selector
// verifies decisions of the replaced key for a grace period.
func (in injection) args() []string {
	return []string{
		"selector",
		"--listen=:" + strconv.Itoa(int(in.opts.Port)),
		"--namespace=$(" + envPodNS + ")",
		"--portfolios=" + strings.Join(in.portfolios, ","),
		"--decision-key-file=" + TokenMountPath + "/" + TokenSecretKey,
		"--ack=" + in.opts.Ack,
		"--state-dir=" + StateMountPath,
	}
}

// volume is the Secret volume with the decision-token key. It is not optional: the selector
// cannot start without its key, and a missing Secret is clearest as the kubelet's mount event
// ("secret ... not found") on a pod that starts by itself once the Secret exists.
func (in injection) volume() corev1.Volume {
	return corev1.Volume{
		Name: TokenVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: in.tokenSecret,
			Items:      []corev1.KeyToPath{{Key: TokenSecretKey, Path: TokenSecretKey}},
		}},
	}
}

// stateVolume is the emptyDir of the selector's write-ahead record.
func (in injection) stateVolume() corev1.Volume {
	ed := &corev1.EmptyDirVolumeSource{}
	if !in.opts.StateLimit.IsZero() {
		ed.SizeLimit = &in.opts.StateLimit
	}
	return corev1.Volume{Name: StateVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: ed}}
}

// appEnv are the variables every application container gets. In node mode the node's address
// comes first: a variable can refer only to variables listed before it.
func (in injection) appEnv() []corev1.EnvVar {
	var env []corev1.EnvVar
	if in.nodePort != 0 {
		env = append(env, fieldEnv(EnvHostIP, "status.hostIP"))
	}
	return append(env,
		corev1.EnvVar{Name: EnvSelectorURL, Value: in.selectorURL()},
		corev1.EnvVar{Name: EnvPortfolios, Value: strings.Join(in.portfolios, ",")},
	)
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

// injected reports whether the pod already has the selector: its sidecar, or the webhook's mark
// of node mode.
func injected(pod *corev1.Pod) bool {
	if pod.Annotations[AnnotationMode] == ModeNode {
		return true
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == ContainerName {
				return true
			}
		}
	}
	return false
}

// apply adds the selector to pod: in sidecar mode the selector container, first among the init
// containers so that other init containers can use it too, and its volumes; in node mode nothing
// but the application's variables. Variables an application container already sets are kept.
func (in injection) apply(pod *corev1.Pod) {
	if in.nodePort == 0 {
		pod.Spec.InitContainers = append([]corev1.Container{in.container()}, pod.Spec.InitContainers...)
		pod.Spec.Volumes = append(pod.Spec.Volumes, in.stateVolume(), in.volume())
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, env := range in.appEnv() {
			if !hasEnv(c, env.Name) {
				c.Env = append(c.Env, env)
			}
		}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationInjected] = strings.Join(in.portfolios, ",")
	pod.Annotations[AnnotationMode] = in.mode()
}

func hasEnv(c *corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}
