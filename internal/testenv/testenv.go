// Package testenv starts a real control plane for tests: etcd and kube-apiserver through
// controller-runtime's envtest, with the promptfolio CRDs installed, and optionally
// kube-controller-manager so that garbage collection of owned objects really happens.
//
// The binaries come from $KUBEBUILDER_ASSETS, or from <repo>/bin/k8s/<version> where
// `make envtest-assets` builds them from source.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/promptfolio/promptfolio/internal/scheme"
)

// KubeVersion is the version of the control plane built by `make envtest-assets`.
const KubeVersion = "v1.37.2"

// Options say what to start besides etcd and kube-apiserver.
type Options struct {
	// ControllerManager also starts kube-controller-manager with the garbage collector and the
	// namespace controller, so that owner references and namespace deletion behave as in a cluster.
	ControllerManager bool
	// AuditLog, when set, is the file the API server writes an audit event to for every write
	// request (create, update, patch, delete; metadata level: who, what, the answer's code and
	// when it was received and answered), so that a failed request can be named.
	AuditLog string
}

// auditPolicy records write requests at the metadata level and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// Env is a running control plane.
type Env struct {
	// Config is an admin rest.Config for the API server.
	Config *rest.Config
	// Client is a controller-runtime client with Scheme.
	Client client.Client
	// Scheme knows the Kubernetes built-in types and the promptfolio API.
	Scheme *apiruntime.Scheme
	// Kubeconfig is the path of an admin kubeconfig file for kubectl and other processes.
	Kubeconfig string
	// AssetsDir holds etcd, kube-apiserver, kube-controller-manager and kubectl.
	AssetsDir string

	env     *envtest.Environment
	dir     string
	kcm     *exec.Cmd
	kcmLog  *Buffer
	kcmDone chan error
}

// RepoRoot returns the root of the repository, found from this source file's location.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns where the control-plane binaries are: $KUBEBUILDER_ASSETS when set, else
// <repo>/bin/k8s/<KubeVersion>.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", KubeVersion)
}

// NewScheme returns the scheme every promptfolio client uses (internal/scheme).
func NewScheme() *apiruntime.Scheme { return scheme.New() }

// StartForTest starts a control plane for one test and stops it when the test ends. It skips the
// test under -short and fails it when the control plane cannot start.
func StartForTest(t testing.TB, opts Options) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	return env
}

// Start starts etcd and kube-apiserver, installs the CRDs of config/crd/bases and, if asked,
// kube-controller-manager. It fails with a hint when the binaries are missing.
func Start(opts Options) (*Env, error) {
	assets := AssetsDir()
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("control-plane binary %s not found in %s: run `make envtest-assets` (or set KUBEBUILDER_ASSETS)", bin, assets)
		}
	}
	e := &Env{Scheme: NewScheme(), AssetsDir: assets}
	e.env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   e.Scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if opts.AuditLog != "" {
		policy := opts.AuditLog + ".policy.yaml"
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, err
		}
		args := e.env.ControlPlane.GetAPIServer().Configure()
		args.Set("audit-policy-file", policy)
		args.Set("audit-log-path", opts.AuditLog)
		// Batched, so that writing the log does not hold requests up.
		args.Set("audit-log-mode", "batch")
		args.Set("audit-log-batch-max-wait", "2s")
	}
	cfg, err := e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest control plane: %w", err)
	}
	e.Config = cfg
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if e.dir, err = os.MkdirTemp("", "promptfolio-testenv-"); err != nil {
		_ = e.Stop()
		return nil, err
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, e.env.KubeConfig, 0o600); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if opts.ControllerManager {
		if err := e.startControllerManager(); err != nil {
			_ = e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// startControllerManager runs kube-controller-manager against the test API server with the
// controllers tests rely on, and waits until the garbage collector has synced its graph.
func (e *Env) startControllerManager() error {
	bin := filepath.Join(e.AssetsDir, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("kube-controller-manager not found in %s: run `make envtest-assets`", e.AssetsDir)
	}
	e.kcmLog = &Buffer{Limit: 4 << 20}
	e.kcm = exec.Command(bin,
		"--kubeconfig="+e.Kubeconfig,
		"--authentication-kubeconfig="+e.Kubeconfig,
		"--authorization-kubeconfig="+e.Kubeconfig,
		"--controllers=garbagecollector,namespace,serviceaccount-token",
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-gc-syncs=5",
		"--v=1",
	)
	e.kcm.Stdout, e.kcm.Stderr = e.kcmLog, e.kcmLog
	if err := e.kcm.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	e.kcmDone = make(chan error, 1)
	go func() { e.kcmDone <- e.kcm.Wait() }()
	// The garbage collector logs once its dependency graph is synced; wait for it, bounded.
	deadline := time.After(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-e.kcmDone:
			e.kcmDone <- err
			return fmt.Errorf("kube-controller-manager exited early: %w: %s", err, e.kcmLog.tail(2000))
		case <-deadline:
			return fmt.Errorf("kube-controller-manager's garbage collector did not sync within 90s: %s", e.kcmLog.tail(2000))
		case <-tick.C:
			if e.kcmLog.contains("Proceeding to collect garbage") || e.kcmLog.contains("all resource monitors have synced") {
				return nil
			}
		}
	}
}

// ControllerManagerLog returns the tail of kube-controller-manager's output, for failure messages.
func (e *Env) ControllerManagerLog() string {
	if e.kcmLog == nil {
		return ""
	}
	return e.kcmLog.tail(4000)
}

// AddUser adds a user, in groups, whom the API server authenticates by a client certificate,
// and returns a rest.Config that authenticates as that user. The user may do nothing until RBAC
// grants it.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: e.Config.QPS, Burst: e.Config.Burst})
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return u.Config(), nil
}

// CreateNamespace creates a namespace with a generated name and returns its name.
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{}
	ns.GenerateName = prefix + "-"
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// Namespace creates a namespace for one test, named from prefix, and ends the test if it cannot.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := e.CreateNamespace(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// Kubectl runs the built kubectl against the test API server and returns its combined output.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.AssetsDir, "kubectl"), append([]string{"--kubeconfig=" + e.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Stop stops kube-controller-manager, kube-apiserver and etcd and removes temporary files.
func (e *Env) Stop() error {
	var errs []error
	if e.kcm != nil && e.kcm.Process != nil {
		_ = e.kcm.Process.Signal(os.Interrupt)
		var exitErr error
		select {
		case exitErr = <-e.kcmDone:
		case <-time.After(10 * time.Second):
			_ = e.kcm.Process.Kill()
			exitErr = <-e.kcmDone
		}
		// Stopped by the signal is the expected end; any other exit status is reported.
		var status *exec.ExitError
		if errors.As(exitErr, &status) && !status.Exited() {
			exitErr = nil
		}
		if exitErr != nil {
			errs = append(errs, fmt.Errorf("kube-controller-manager: %w", exitErr))
		}
	}
	if e.env != nil {
		if err := e.env.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

// Buffer is a goroutine-safe sink for the output of a process or a logger, kept for waiting on a
// line, for failure messages and for scans of everything logged. With Limit set it keeps memory
// bounded on long runs: past Limit bytes it drops the oldest half.
type Buffer struct {
	// Limit is the most bytes kept; 0 keeps everything.
	Limit int
	mu    sync.Mutex
	buf   bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.buf.Len() > b.Limit {
		rest := append([]byte(nil), b.buf.Bytes()[b.buf.Len()/2:]...)
		b.buf.Reset()
		b.buf.Write(rest)
	}
	return b.buf.Write(p)
}

// String returns everything kept.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *Buffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes(), []byte(s))
}

func (b *Buffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.buf.Bytes()
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return strconv.Quote(string(data))
}

// FreePort returns a TCP port of 127.0.0.1 that nothing listened on when it was asked for, for a
// process a test or harness starts.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
