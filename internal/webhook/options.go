package webhook

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Options, also the defaults of the manager's flags.
const (
	DefaultPort          = 9443
	DefaultCertDir       = "/tmp/k8s-webhook-server/serving-certs"
	DefaultImage         = "ghcr.io/promptfolio/promptfolio-selector:latest"
	DefaultSelectorPort  = 8686
	DefaultTokenSecret   = "promptfolio-selector-token"
	DefaultSelectorUID   = 65532
	DefaultCPURequest    = "10m"
	DefaultMemoryRequest = "32Mi"
	DefaultMemoryLimit   = "128Mi"
	DefaultAck           = "disk"
	DefaultStateLimit    = "256Mi"
)

// Options configure the webhook server and the sidecar it injects. The zero value is not usable;
// start from DefaultOptions or BindFlags.
type Options struct {
	// Enabled serves the webhook. When false, SetupWebhook does nothing, so a manager run as a
	// local process (make demo) needs no serving certificate.
	Enabled bool
	// Port the webhook server listens on, 9443 by default.
	Port int
	// CertDir holds tls.crt and tls.key of the serving certificate. The chart mounts the
	// certificate Secret there.
	CertDir string
	// Sidecar is what the injected selector container looks like.
	Sidecar SidecarOptions
}

// SidecarOptions describe the injected selector container.
type SidecarOptions struct {
	// Image of the selector: the selector image (Dockerfile target selector), whose entrypoint
	// is the selector-only binary (cmd/promptfolio-selector). The container sets no
	// command, only args that start with the subcommand "selector", so the full promptfolio
	// image works as well.
	Image string
	// PullPolicy of the image; empty leaves the Kubernetes default.
	PullPolicy corev1.PullPolicy
	// Port the selector's HTTP API listens on, in every injected pod.
	Port int32
	// TokenSecret is the default name of the Secret holding the decision-token signing key, in
	// the pod's namespace. A pod may name another with the promptfolio.dev/token-secret
	// annotation.
	TokenSecret string
	// RunAsUser is the user id the sidecar runs as; non-root.
	RunAsUser int64
	// CPURequest, MemoryRequest and MemoryLimit are the sidecar's resources. There is no CPU
	// limit on purpose: throttling a latency-sensitive sidecar hurts more than it protects.
	CPURequest, MemoryRequest, MemoryLimit resource.Quantity
	// Ack is the selector's acknowledgement level: disk (a reward answered 202 survives the
	// sidecar's SIGKILL or OOMKill: it is in the write-ahead record in the pod's emptyDir) or
	// memory.
	Ack string
	// StateLimit is the size limit of the emptyDir that holds the write-ahead record: about one
	// decision lifetime of rewards at 38 bytes each.
	StateLimit resource.Quantity
	// NodePorts names the namespaces served by node-local selectors (chart value selector.mode
	// node: a DaemonSet in each of these namespaces) and the host port of each. Annotated pods of
	// these namespaces get no sidecar: their application containers are pointed at the selector
	// of their node, http://<node address>:<port>. A pod that names a token Secret other than
	// TokenSecret gets the sidecar, since the node's selector signs with TokenSecret's key. Pods
	// of other namespaces get the sidecar. Empty (the default) injects sidecars everywhere.
	NodePorts map[string]int32
}

// DefaultOptions returns the defaults of every option, with the webhook disabled.
func DefaultOptions() Options {
	return Options{
		Port:    DefaultPort,
		CertDir: DefaultCertDir,
		Sidecar: SidecarOptions{
			Image:         DefaultImage,
			Port:          DefaultSelectorPort,
			TokenSecret:   DefaultTokenSecret,
			RunAsUser:     DefaultSelectorUID,
			CPURequest:    resource.MustParse(DefaultCPURequest),
			MemoryRequest: resource.MustParse(DefaultMemoryRequest),
			MemoryLimit:   resource.MustParse(DefaultMemoryLimit),
			Ack:           DefaultAck,
			StateLimit:    resource.MustParse(DefaultStateLimit),
		},
	}
}

// BindFlags sets o to the defaults and registers the manager flags that change it.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	*o = DefaultOptions()
	fs.BoolVar(&o.Enabled, "webhook-enabled", false, "serve the sidecar-injection admission webhook (needs a serving certificate in --webhook-cert-dir)")
	fs.IntVar(&o.Port, "webhook-port", o.Port, "port of the admission webhook server")
	fs.StringVar(&o.CertDir, "webhook-cert-dir", o.CertDir, "directory holding tls.crt and tls.key of the webhook's serving certificate")
	fs.StringVar(&o.Sidecar.Image, "selector-image", o.Sidecar.Image, "image of the injected selector sidecar (the selector-only build; its entrypoint gets the args \"selector ...\")")
	fs.Func("selector-image-pull-policy", "pull policy of the injected selector sidecar: Always, IfNotPresent or Never (default: the Kubernetes default)", func(s string) error {
		switch p := corev1.PullPolicy(s); p {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever, "":
			o.Sidecar.PullPolicy = p
			return nil
		}
		return fmt.Errorf("unknown pull policy %q", s)
	})
	fs.Func("selector-port", fmt.Sprintf("port the injected selector listens on (default %d)", DefaultSelectorPort), func(s string) error {
		var p int32
		if _, err := fmt.Sscan(s, &p); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("port must be between 1 and 65535, got %q", s)
		}
		o.Sidecar.Port = p
		return nil
	})
	fs.StringVar(&o.Sidecar.TokenSecret, "selector-token-secret", o.Sidecar.TokenSecret, "default name of the Secret with the decision-token key, in the pod's namespace")
	fs.Int64Var(&o.Sidecar.RunAsUser, "selector-run-as-user", o.Sidecar.RunAsUser, "non-root user id of the injected selector")
	quantity(fs, &o.Sidecar.CPURequest, "selector-cpu-request", "CPU request of the injected selector")
	quantity(fs, &o.Sidecar.MemoryRequest, "selector-memory-request", "memory request of the injected selector")
	quantity(fs, &o.Sidecar.MemoryLimit, "selector-memory-limit", "memory limit of the injected selector")
	fs.StringVar(&o.Sidecar.Ack, "selector-ack", o.Sidecar.Ack, "acknowledgement level of the injected selector: disk (rewards survive its SIGKILL: write-ahead record in an emptyDir) or memory")
	quantity(fs, &o.Sidecar.StateLimit, "selector-state-limit", "size limit of the injected selector's state emptyDir")
	fs.Func("selector-node-ports", "namespaces served by a node-local selector (a DaemonSet) and its host port, as namespace=port,...: their annotated pods get no sidecar but the URL of their node's selector (default: none, sidecars everywhere)", func(s string) error {
		ports, err := ParseNodePorts(s)
		if err != nil {
			return err
		}
		o.Sidecar.NodePorts = ports
		return nil
	})
}

// ParseNodePorts reads the value of --selector-node-ports: comma-separated namespace=port pairs.
// An empty value is an empty map.
func ParseNodePorts(value string) (map[string]int32, error) {
	ports := map[string]int32{}
	for _, field := range strings.Split(value, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		ns, portText, ok := strings.Cut(field, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want namespace=port", field)
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		if _, dup := ports[ns]; dup {
			return nil, fmt.Errorf("namespace %s is listed twice", ns)
		}
		port, err := strconv.ParseInt(portText, 10, 32)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("namespace %s: port must be between 1 and 65535, got %q", ns, portText)
		}
		ports[ns] = int32(port)
	}
	return ports, nil
}

// quantity registers a flag holding a resource quantity.
func quantity(fs *flag.FlagSet, q *resource.Quantity, name, usage string) {
	fs.Func(name, fmt.Sprintf("%s (default %s)", usage, q.String()), func(s string) error {
		v, err := resource.ParseQuantity(s)
		if err != nil {
			return err
		}
		*q = v
		return nil
	})
}

// Validate reports options the webhook cannot work with.
func (o Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("webhook port %d is out of range", o.Port))
	}
	if o.Sidecar.Image == "" {
		errs = append(errs, errors.New("selector image must not be empty"))
	}
	if o.Sidecar.Port < 1 || o.Sidecar.Port > 65535 {
		errs = append(errs, fmt.Errorf("selector port %d is out of range", o.Sidecar.Port))
	}
	if o.Sidecar.TokenSecret == "" {
		errs = append(errs, errors.New("selector token secret must not be empty"))
	}
	if o.Sidecar.Ack != "disk" && o.Sidecar.Ack != "memory" {
		errs = append(errs, fmt.Errorf("selector acknowledgement %q: want disk or memory", o.Sidecar.Ack))
	}
	if o.Sidecar.RunAsUser <= 0 {
		errs = append(errs, errors.New("selector must run as a non-root user id"))
	}
	if !o.Sidecar.MemoryLimit.IsZero() && o.Sidecar.MemoryLimit.Cmp(o.Sidecar.MemoryRequest) < 0 {
		errs = append(errs, errors.New("selector memory limit must not be below its request"))
	}
	for ns, port := range o.Sidecar.NodePorts {
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("node-local selector port %d of namespace %s is out of range", port, ns))
		}
	}
	return errors.Join(errs...)
}
