package selector

import (
	"context"
	"encoding/json"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// kubeClient is the selector's narrow client of the API server: the PromptArm list and watch,
// the counter writes into arm status, the writer Lease and the decision-key Secrets. It is built
// on client-go's REST client with a scheme of the promptfolio API alone, so a selector build
// carries none of the built-in API groups' code; that is most of what keeps its resident memory
// small (docs/benchmarks.md, "Selector").
type kubeClient struct {
	rc        *rest.RESTClient
	namespace string
}

// newKubeClient returns a client for the namespace on the API server of restCfg. Client-side
// rate limiting is off unless restCfg sets a QPS: the flusher writes at most one patch per arm
// per interval with bounded parallelism, and the API server's priority and fairness applies.
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

// applyArmStatus server-side applies body to the arm's status as fieldManager, forcing
// ownership of the fields it names.
func (k *kubeClient) applyArmStatus(ctx context.Context, arm, fieldManager string, body []byte) error {
	return k.rc.Patch(types.ApplyPatchType).Namespace(k.namespace).Resource("promptarms").Name(arm).
		SubResource("status").Param("fieldManager", fieldManager).Param("force", "true").
		Body(body).Do(ctx).Error()
}

// patchArmStatus sends a JSON patch to the arm's status as fieldManager.
func (k *kubeClient) patchArmStatus(ctx context.Context, arm, fieldManager string, patch []byte) error {
	return k.rc.Patch(types.JSONPatchType).Namespace(k.namespace).Resource("promptarms").Name(arm).
		SubResource("status").Param("fieldManager", fieldManager).Body(patch).Do(ctx).Error()
}

// getArm reads an arm as it is stored, with every field.
func (k *kubeClient) getArm(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	raw, err := k.getArms().Name(name).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	arm := &unstructured.Unstructured{}
	if err := arm.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("decoding arm %s: %w", name, err)
	}
	return arm, nil
}

// getPortfolio reads a PromptPortfolio.
func (k *kubeClient) getPortfolio(ctx context.Context, name string) (*v1alpha1.PromptPortfolio, error) {
	pf := &v1alpha1.PromptPortfolio{}
	err := k.rc.Get().Namespace(k.namespace).Resource("promptportfolios").Name(name).Do(ctx).Into(pf)
	return pf, err
}

// leasePath is the path of the namespace's Leases, or of one when name is given.
func (k *kubeClient) leasePath(name ...string) string {
	p := "/apis/coordination.k8s.io/v1/namespaces/" + k.namespace + "/leases"
	for _, n := range name {
		p += "/" + n
	}
	return p
}

// createLease creates a Lease.
func (k *kubeClient) createLease(ctx context.Context, lease *coordinationv1.Lease) error {
	lease.APIVersion, lease.Kind = "coordination.k8s.io/v1", "Lease"
	body, err := json.Marshal(lease)
	if err != nil {
		return err
	}
	return k.rc.Post().AbsPath(k.leasePath()).Body(body).Do(ctx).Error()
}

// mergePatchLease sends a JSON merge patch to a Lease.
func (k *kubeClient) mergePatchLease(ctx context.Context, name string, patch []byte) error {
	return k.rc.Patch(types.MergePatchType).AbsPath(k.leasePath(name)).Body(patch).Do(ctx).Error()
}

// deleteLease deletes a Lease.
func (k *kubeClient) deleteLease(ctx context.Context, name string) error {
	return k.rc.Delete().AbsPath(k.leasePath(name)).Do(ctx).Error()
}

// secret is the part of a core/v1 Secret the selector reads and writes.
type secret struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
}

func (k *kubeClient) secretPath(name ...string) string {
	p := "/api/v1/namespaces/" + k.namespace + "/secrets"
	for _, n := range name {
		p += "/" + n
	}
	return p
}

// getSecret reads a Secret. Errors never include its data.
func (k *kubeClient) getSecret(ctx context.Context, name string) (*secret, error) {
	raw, err := k.rc.Get().AbsPath(k.secretPath(name)).Do(ctx).Raw()
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
	return k.rc.Post().AbsPath(k.secretPath()).Body(body).Do(ctx).Error()
}
