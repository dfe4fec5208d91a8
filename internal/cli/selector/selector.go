// Package selector is the `selector` subcommand: the sidecar that answers draws and rewards over
// HTTP. It is the whole of the sidecar binary, cmd/promptfolio-selector, so it imports nothing
// but the selector's own code.
package selector

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/selector"
)

// Command is the selector subcommand.
var Command = cli.Command{
	Name:    "selector",
	Summary: "run the selector sidecar: Thompson draws and rewards over HTTP (see docs/api.md)",
	Run:     run,
}

// selectorOptions are the flags of `promptfolio selector`.
type selectorOptions struct {
	cfg         selector.Config
	portfolios  string
	kubeconfig  string
	memoryLimit string
	zap         zap.Options
}

// defaultSelectorMemoryLimit is the Go runtime's soft memory limit of a selector when neither
// --memory-limit nor $GOMEMLIMIT sets one. It bounds the heap, stacks and runtime metadata, not
// the binary's mapped code; see the Selector section of docs/benchmarks.md.
const defaultSelectorMemoryLimit = "24Mi"

func (o *selectorOptions) bind(fs *flag.FlagSet) {
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "default"
	}
	c := &o.cfg
	fs.StringVar(&c.Namespace, "namespace", ns, "namespace of the portfolios (default: $POD_NAMESPACE, else \"default\")")
	fs.StringVar(&o.portfolios, "portfolios", "", "comma-separated portfolio names to serve; empty serves every portfolio whose arms match -selector")
	fs.StringVar(&c.LabelSelector, "selector", "", "label selector that further restricts the watched PromptArms")
	fs.StringVar(&c.Addr, "listen", "127.0.0.1:8088", "address of the HTTP API (draw, reward, healthz, readyz, metrics)")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", os.Getenv("PROMPTFOLIO_ADVERTISE_ADDRESS"), "host:port other selectors reach this one at, written into its decisions so that their rewards are forwarded here and counted once; \"none\" for no forwarding (default: $PROMPTFOLIO_ADVERTISE_ADDRESS, else the --listen address when it names one, else $POD_IP with the listen port)")
	fs.StringVar(&c.PodIP, "pod-ip", os.Getenv("POD_IP"), "IP of the selector's pod, for the default --advertise-address (default: $POD_IP)")
	fs.DurationVar(&c.ForwardTimeout, "forward-timeout", 0, "bound of a reward forwarded to the selector that issued its decision (default 5s)")
	fs.StringVar(&c.Writer, "writer", "", "writer id naming this selector's PromptCounterReports; the same across restarts that share --state-dir (default: <pod name>-<pod uid prefix> from $POD_NAME and $POD_UID, else <host name>-<random suffix>)")
	fs.StringVar(&c.PodName, "pod-name", os.Getenv("POD_NAME"), "pod that owns the writer's reports, so they are deleted with it (default: $POD_NAME; needs --pod-uid)")
	fs.StringVar(&c.PodUID, "pod-uid", os.Getenv("POD_UID"), "uid of --pod-name (default: $POD_UID)")
	fs.StringVar(&c.Ack, "ack", "", "acknowledgement level of rewards: disk (202 once the reward is in the write-ahead record in --state-dir; survives SIGKILL) or memory (default: disk with --state-dir, else memory)")
	fs.StringVar(&c.StateDir, "state-dir", "", "directory of the write-ahead record of disk acknowledgement; in a pod, an emptyDir")
	fs.Int64Var(&c.MaxPending, "max-pending", 0, "acknowledged rewards not yet written to the API server beyond which rewards are answered 503 (default 1000000)")
	fs.StringVar(&c.KeyFile, "decision-key-file", "", "file with the decision signing key (32+ bytes, raw or base64); default: a Secret <portfolio>-decision-key per portfolio, created when missing")
	fs.DurationVar(&c.KeyRefresh, "decision-key-refresh", 0, "how often the key file or Secrets are reread (default 30s)")
	fs.DurationVar(&c.KeyGrace, "decision-key-grace", 0, "how long a replaced key still verifies decisions (default 1h)")
	fs.DurationVar(&c.TokenTTL, "decision-ttl", 0, "how long a decision can be rewarded (default 10m)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 0, "shortest interval between two writes of a counter report; the controller's report interval lengthens it for portfolios with many writers (default 1s, with jitter)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 0, "bound of the final report write on SIGTERM (default 25s)")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "soft memory limit of the Go runtime as a quantity (e.g. 24Mi, 64Mi; 0 turns it off); default: $GOMEMLIMIT when set, else "+defaultSelectorMemoryLimit)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the pod's service account, else ~/.kube/config)")
	o.zap.BindFlags(fs)
}

func run(ctx context.Context, args []string) error {
	var opts selectorOptions
	if _, err := cli.ParseFlags("selector", args, opts.bind); err != nil {
		return err
	}
	for _, p := range strings.Split(opts.portfolios, ",") {
		if p = strings.TrimSpace(p); p != "" {
			opts.cfg.Portfolios = append(opts.cfg.Portfolios, p)
		}
	}
	logger := zap.New(zap.UseFlagOptions(&opts.zap)).WithName("selector")
	log.SetLogger(logger)
	klog.SetLogger(logger)
	limit, err := setMemoryLimit(opts.memoryLimit, os.Getenv("GOMEMLIMIT") != "")
	if err != nil {
		return err
	}
	if limit < math.MaxInt64 {
		logger.V(1).Info("soft memory limit", "bytes", limit)
	}

	cfg, err := selector.RESTConfig(opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	sel, err := selector.New(opts.cfg, cfg)
	if err != nil {
		return err
	}
	return sel.Run(log.IntoContext(ctx, logger))
}

// setMemoryLimit sets the Go runtime's soft memory limit from the --memory-limit value and returns
// the limit in effect. An empty value keeps a limit the runtime took from $GOMEMLIMIT (envSet)
// and otherwise applies defaultSelectorMemoryLimit; "0" turns the limit off. The limit is soft:
// above it the garbage collector runs more often, bounded by the runtime to about half the CPU.
func setMemoryLimit(value string, envSet bool) (int64, error) {
	if value == "" {
		if envSet {
			return debug.SetMemoryLimit(-1), nil
		}
		value = defaultSelectorMemoryLimit
	}
	q, err := resource.ParseQuantity(value)
	if err != nil {
		return 0, fmt.Errorf("--memory-limit %q: %w", value, err)
	}
	n := q.Value()
	if n < 0 {
		return 0, fmt.Errorf("--memory-limit %q is negative", value)
	}
	if n == 0 {
		n = math.MaxInt64
	}
	debug.SetMemoryLimit(n)
	return n, nil
}
