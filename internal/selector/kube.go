package selector

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// RESTConfig returns the API server's address and credentials for a selector, in the order the
// manager loads them (controller-runtime's): the kubeconfig file when given, else $KUBECONFIG, else
// the pod's service account when it runs in a pod, else ~/.kube/config. The service account comes
// before the home directory so that a sidecar never depends on its image's home: in an image whose
// home is not readable, reading ~/.kube/config first fails with "permission denied".
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return restConfig(rules, os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "", rest.InClusterConfig)
}

// restConfig loads from rules (clientcmd's: the explicit file, else the $KUBECONFIG list when
// fromEnv, else the home file) unless no file was named and inCluster succeeds.
func restConfig(rules *clientcmd.ClientConfigLoadingRules, fromEnv bool, inCluster func() (*rest.Config, error)) (*rest.Config, error) {
	if rules.ExplicitPath == "" && !fromEnv {
		if cfg, err := inCluster(); err == nil {
			return cfg, nil
		}
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// kubeClient is the selector's narrow client of the API server: the PromptArm list and watch,
// the writer's PromptCounterReports and the decision-key Secrets. It is built
// on client-go's REST client with a scheme of the promptfolio API alone, so a selector build
// carries none of the built-in API groups' code; that is most of what keeps its resident memory
// small (docs/benchmarks.md, "Selector").
type kubeClient struct {
	rc        *rest.RESTClient
	namespace string
}

// newKubeClient returns a client for the namespace on the API server of restCfg. Client-side
// rate limiting is off unless restCfg sets a QPS: the flusher writes at most one report per
// portfolio per interval with bounded parallelism, and the API server's priority and fairness applies.
func newKubeClient(restCfg *rest.Config, namespace string) (*kubeClient, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(restCfg)
	cfg.GroupVersion = &v1alpha1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.AcceptContentTypes = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "promptfolio-selector"
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating API client: %w", err)
	}
	return &kubeClient{rc: rc, namespace: namespace}, nil
}

// armListWatch lists and watches the PromptArms of the namespace that match labelSelector.
func (k *kubeClient) armListWatch(labelSelector string) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = labelSelector
			list := &v1alpha1.PromptArmList{}
			err := k.getArms().VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(list)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = labelSelector
			opts.Watch = true
			return k.getArms().VersionedParams(&opts, metav1.ParameterCodec).Watch(ctx)
		},
	}
}

// getArms starts a GET of the namespace's PromptArms.
func (k *kubeClient) getArms() *rest.Request {
	return k.rc.Get().Namespace(k.namespace).Resource("promptarms")
}

// getReport reads a PromptCounterReport.
func (k *kubeClient) getReport(ctx context.Context, name string) (*v1alpha1.PromptCounterReport, error) {
	r := &v1alpha1.PromptCounterReport{}
	err := k.rc.Get().Namespace(k.namespace).Resource("promptcounterreports").Name(name).Do(ctx).Into(r)
	return r, err
}

// createReport creates a PromptCounterReport from its JSON and returns what was stored.
func (k *kubeClient) createReport(ctx context.Context, body []byte) (*v1alpha1.PromptCounterReport, error) {
	r := &v1alpha1.PromptCounterReport{}
	err := k.rc.Post().Namespace(k.namespace).Resource("promptcounterreports").Body(body).Do(ctx).Into(r)
	return r, err
}

// patchReport sends a JSON merge patch to a PromptCounterReport. The answer's body is not
// decoded: a writer only needs to know that the write landed.
func (k *kubeClient) patchReport(ctx context.Context, name string, patch []byte) error {
	return k.rc.Patch(types.MergePatchType).Namespace(k.namespace).Resource("promptcounterreports").Name(name).
		Body(patch).Do(ctx).Error()
}

// getPortfolio reads a PromptPortfolio.
func (k *kubeClient) getPortfolio(ctx context.Context, name string) (*v1alpha1.PromptPortfolio, error) {
	pf := &v1alpha1.PromptPortfolio{}
	err := k.rc.Get().Namespace(k.namespace).Resource("promptportfolios").Name(name).Do(ctx).Into(pf)
	return pf, err
}

// Paths of the built-in API groups the selector uses.
const (
	coreV1Path = "/api/v1"
)

// builtin points req at a resource of a built-in API group in the namespace.
func (k *kubeClient) builtin(req *rest.Request, groupPath, resource string) *rest.Request {
	return req.AbsPath(groupPath).Namespace(k.namespace).Resource(resource)
}

// secret is the part of a core/v1 Secret the selector reads and writes.
type secret struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
}

// getSecret reads a Secret. Errors never include its data.
func (k *kubeClient) getSecret(ctx context.Context, name string) (*secret, error) {
	raw, err := k.builtin(k.rc.Get(), coreV1Path, "secrets").Name(name).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	s := &secret{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("decoding Secret %s: not a Secret", name)
	}
	return s, nil
}

// createSecret creates a Secret.
func (k *kubeClient) createSecret(ctx context.Context, s *secret) error {
	s.APIVersion, s.Kind = "v1", "Secret"
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return k.builtin(k.rc.Post(), coreV1Path, "secrets").Body(body).Do(ctx).Error()
}
