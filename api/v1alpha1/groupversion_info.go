// Package v1alpha1 contains the API of promptfolio: PromptPortfolio, the seed prompts and evolution
// policy that people own, and PromptArm, one prompt with the posterior that production has learned.
//
// Numbers that are not integers (priors, thresholds, posterior parameters, means, probabilities) are
// JSON numbers (float64). They are probabilities and Beta parameters, not quantities of a resource:
// resource.Quantity would print 0.05 as "50m" and cannot express 1e-10, and strings would lose the
// numeric OpenAPI and CEL checks that reject a threshold of 1.5 at admission. A float64 holds every
// such value a user writes exactly enough (15+ significant digits) and encodes as the shortest
// decimal that round-trips, so Git and the API server agree on the value. Counts of rewards, which
// must be exact, are int64.
//
// +kubebuilder:object:generate=true
// +groupName=prompts.promptfolio.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the promptfolio API.
	GroupVersion = schema.GroupVersion{Group: "prompts.promptfolio.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the promptfolio types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the promptfolio types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
