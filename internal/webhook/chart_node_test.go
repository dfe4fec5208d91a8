package webhook

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// renderedObjects decodes helm template output into objects keyed "Kind/namespace/name".
func renderedObjects(t *testing.T, docs []byte) map[string]*unstructured.Unstructured {
	t.Helper()
	objects := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(docs), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects
			}
			t.Fatal(err)
		}
		if obj.Object == nil {
			continue
		}
		objects[obj.GetKind()+"/"+obj.GetNamespace()+"/"+obj.GetName()] = &obj
	}
}

// typed converts a rendered object, failing the test when it is missing.
func typed[T any](t *testing.T, objects map[string]*unstructured.Unstructured, key string) *T {
	t.Helper()
	obj, ok := objects[key]
	if !ok {
		t.Fatalf("the chart renders no %s; it renders %v", key, slices.Sorted(maps.Keys(objects)))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChartNodeMode renders the chart with selector.mode node and checks what the webhook and the
// node-local selectors rely on: the manager's --selector-node-ports (which the webhook parses)
// names exactly the host ports the DaemonSets listen on, each DaemonSet runs in its namespace
// with its own ServiceAccount bound to the selector Role, advertises its node's address, keeps
// its write-ahead record in an emptyDir, and is the pod its NetworkPolicy selects. Two
// namespaces on one host port are refused at render time. TestChart validates the same
// rendering against a real API server.
func TestChartNodeMode(t *testing.T) {
	helm := helmBinary()
	if helm == "" {
		t.Skip("no helm binary: set HELM, or build bin/helm-<version> with the Makefile")
	}
	objects := renderedObjects(t, renderChart(t, helm, nodeModeValues...))

	manager := typed[appsv1.Deployment](t, objects, "Deployment/"+managerNamespace+"/promptfolio-manager")
	var ports map[string]int32
	for _, arg := range manager.Spec.Template.Spec.Containers[0].Args {
		if value, ok := strings.CutPrefix(arg, "--selector-node-ports="); ok {
			var err error
			if ports, err = ParseNodePorts(value); err != nil {
				t.Fatalf("the manager's %s: %v", arg, err)
			}
		}
	}
	if want := map[string]int32{"shop": 8686, "web": 8701}; !maps.Equal(ports, want) {
		t.Fatalf("manager --selector-node-ports = %v, want %v", ports, want)
	}

	for ns, port := range ports {
		t.Run(ns, func(t *testing.T) {
			ds := typed[appsv1.DaemonSet](t, objects, "DaemonSet/"+ns+"/promptfolio-node-selector")
			pod := ds.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("containers %v, want the selector alone", pod.Containers)
			}
			c := pod.Containers[0]
			if len(c.Ports) != 1 || c.Ports[0].HostPort != port || c.Ports[0].ContainerPort != port || c.Ports[0].Name != PortName {
				t.Errorf("ports %+v, want %s on container and host port %d", c.Ports, PortName, port)
			}
			listen := "--listen=:" + itoa(port)
			if len(c.Args) == 0 || c.Args[0] != "selector" || !slices.Contains(c.Args, listen) ||
				!slices.Contains(c.Args, "--state-dir="+StateMountPath) || !slices.Contains(c.Args, "--decision-key-file="+TokenMountPath+"/"+TokenSecretKey) {
				t.Errorf("args %v, want selector %s with its state dir and key file", c.Args, listen)
			}
			// Every portfolio of the namespace: no --portfolios.
			if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--portfolios") }) {
				t.Errorf("args %v restrict the portfolios; by default a node selector serves all of its namespace", c.Args)
			}
			env := map[string]corev1.EnvVar{}
			var order []string
			for _, e := range c.Env {
				env[e.Name] = e
				order = append(order, e.Name)
			}
			for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_UID": "metadata.uid", "POD_NAMESPACE": "metadata.namespace", "HOST_IP": "status.hostIP"} {
				if e := env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
					t.Errorf("env %s = %+v, want the downward API's %s", name, e, path)
				}
			}
			if got, want := env["PROMPTFOLIO_ADVERTISE_ADDRESS"].Value, "$(HOST_IP):"+itoa(port); got != want ||
				slices.Index(order, "HOST_IP") > slices.Index(order, "PROMPTFOLIO_ADVERTISE_ADDRESS") {
				t.Errorf("PROMPTFOLIO_ADVERTISE_ADDRESS = %q in %v, want %q after HOST_IP", got, order, want)
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
			}
			if v := volumes["state"]; v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil {
				t.Errorf("state volume %+v, want a size-limited emptyDir", v)
			}
			if v := volumes["token"]; v.Secret == nil || v.Secret.SecretName != DefaultTokenSecret {
				t.Errorf("token volume %+v, want Secret %s, whose key the webhook's pods are signed with", v, DefaultTokenSecret)
			}
			sc := c.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("security context %+v, want non-root, read-only, no escalation, no capabilities", sc)
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.StartupProbe == nil {
				t.Errorf("probes: readiness %v, liveness %v, startup %v", c.ReadinessProbe, c.LivenessProbe, c.StartupProbe)
			}
			if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 25 {
				t.Errorf("terminationGracePeriodSeconds %v, want more than the selector's 25 s shutdown timeout", pod.TerminationGracePeriodSeconds)
			}

			sa := pod.ServiceAccountName
			typed[corev1.ServiceAccount](t, objects, "ServiceAccount/"+ns+"/"+sa)
			binding := typed[rbacv1.RoleBinding](t, objects, "RoleBinding/"+ns+"/promptfolio-selector")
			if !slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool {
				return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns
			}) {
				t.Errorf("RoleBinding subjects %v do not include the DaemonSet's ServiceAccount %s", binding.Subjects, sa)
			}

			policy := typed[networkingv1.NetworkPolicy](t, objects, "NetworkPolicy/"+ns+"/promptfolio-node-selector")
			selector := labels.SelectorFromSet(policy.Spec.PodSelector.MatchLabels)
			if !selector.Matches(labels.Set(ds.Spec.Template.Labels)) {
				t.Errorf("NetworkPolicy selects %v, not the DaemonSet's pods %v", selector, ds.Spec.Template.Labels)
			}
			if len(policy.Spec.Ingress) != 1 || len(policy.Spec.Ingress[0].Ports) != 1 || policy.Spec.Ingress[0].Ports[0].Port.String() != PortName {
				t.Errorf("NetworkPolicy ingress %+v, want the selector port", policy.Spec.Ingress)
			}
		})
	}

	t.Run("sidecar mode renders no DaemonSet", func(t *testing.T) {
		for key := range renderedObjects(t, renderChart(t, helm, "--set", "selector.namespaces={shop}")) {
			if strings.HasPrefix(key, "DaemonSet/") {
				t.Errorf("sidecar mode renders %s", key)
			}
		}
	})
	t.Run("portfolios restrict the node selectors", func(t *testing.T) {
		objects := renderedObjects(t, renderChart(t, helm, "--set", "selector.mode=node", "--set", "selector.namespaces={shop}",
			"--set", "selector.node.portfolios={greeting,checkout}"))
		ds := typed[appsv1.DaemonSet](t, objects, "DaemonSet/shop/promptfolio-node-selector")
		if args := ds.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--portfolios=greeting,checkout") {
			t.Errorf("args %v, want --portfolios=greeting,checkout", args)
		}
	})
	t.Run("two namespaces on one host port refused", func(t *testing.T) {
		chart := filepath.Join(testenv.RepoRoot(), "charts", "promptfolio")
		cmd := exec.Command(helm, "template", "promptfolio", chart, "--namespace", managerNamespace,
			"--set", "selector.mode=node", "--set", "selector.namespaces={shop,web}")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "would both use host port 8686") {
			t.Fatalf("helm template with shop and web on the default host port: %v\n%s", err, out)
		}
	})
}

// nodeModeValues render node-local selectors in two namespaces, one on the default host port.
var nodeModeValues = []string{
	"--set", "selector.mode=node",
	"--set", "selector.namespaces={shop,web}",
	"--set", "selector.node.hostPorts.web=8701",
	"--set", "networkPolicy.enabled=true",
}

func itoa(port int32) string { return strconv.Itoa(int(port)) }
