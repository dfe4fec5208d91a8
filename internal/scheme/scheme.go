// Package scheme builds the runtime.Scheme every promptfolio client uses: the Kubernetes built-in
// types and the promptfolio API.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

// New returns a scheme with the Kubernetes built-in types and the promptfolio API.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(promptsv1alpha1.AddToScheme(s))
	return s
}
