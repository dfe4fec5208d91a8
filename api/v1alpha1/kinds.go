package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The kinds of the API, each with the printer columns and short name kubectl shows it by, and
// the List type of each for list and watch calls. Their specs and statuses are in the kinds' own
// files (promptportfolio_types.go, promptarm_types.go, promptcounterreport_types.go).

// PromptPortfolio is a set of prompts for one task that production traffic ranks: a selector
// serves its Active arms by Thompson sampling, and evolution cycles retire losers and add children
// of the winner. People own spec; the controller owns status.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pf,categories=promptfolio
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.activeArms`
// +kubebuilder:printcolumn:name="Retired",type=integer,JSONPath=`.status.retiredArms`
// +kubebuilder:printcolumn:name="Best",type=string,JSONPath=`.status.bestArm`
// +kubebuilder:printcolumn:name="Best-Mean",type=string,JSONPath=`.status.bestMeanDisplay`
// +kubebuilder:printcolumn:name="Gen",type=integer,JSONPath=`.status.evolutionGeneration`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="portfolio name must be at most 40 characters, so that arm names '<portfolio>-<prompt>' fit in 63"
type PromptPortfolio struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is owned by people or GitOps.
	// +required
	Spec PromptPortfolioSpec `json:"spec"`

	// status is owned by the controller.
	// +optional
	Status PromptPortfolioStatus `json:"status,omitempty"`
}

// PromptArm is one prompt of a PromptPortfolio and what production has learned about it: a
// Beta-Binomial posterior of its success rate. Arms are created by the controller (seeds and
// mutations) or by people (with the promptfolio.dev/portfolio label), and never deleted by the
// controller: retiring only sets status.phase.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=arm,categories=promptfolio
// +kubebuilder:printcolumn:name="Portfolio",type=string,JSONPath=`.spec.portfolio`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Trials",type=integer,JSONPath=`.status.trials`
// +kubebuilder:printcolumn:name="Mean",type=string,JSONPath=`.status.display.mean`
// +kubebuilder:printcolumn:name="P(Best)",type=string,JSONPath=`.status.display.probBest`
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.display.trafficShare`
// +kubebuilder:printcolumn:name="Alpha",type=string,JSONPath=`.status.display.alpha`
// +kubebuilder:printcolumn:name="Beta",type=string,JSONPath=`.status.display.beta`
// +kubebuilder:printcolumn:name="Gen",type=integer,JSONPath=`.spec.origin.generation`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PromptArm struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the prompt and its prior; immutable once created.
	// +required
	Spec PromptArmSpec `json:"spec"`

	// status is the learned posterior and the arm's phase.
	// +optional
	Status PromptArmStatus `json:"status,omitempty"`
}

// PromptCounterReport carries reward counts from a selector process to the controller. Each
// writer (a selector process of one pod) owns one report per portfolio, named
// "<writer>.<portfolio>" and owned by its pod, so garbage collection removes it with the pod;
// only the controller watches reports. The controller sums the reports and the portfolio's
// ledger (the report named like the portfolio) into the arms' status.successes and
// status.failures, and folds the counts of a deleted report into the ledger before it lets the
// report go.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=pfcr,categories=promptfolio
// +kubebuilder:printcolumn:name="Portfolio",type=string,JSONPath=`.spec.portfolio`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Writer",type=string,JSONPath=`.spec.writer`
// +kubebuilder:printcolumn:name="Updated",type=date,JSONPath=`.spec.updateTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PromptCounterReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the counts.
	// +required
	Spec PromptCounterReportSpec `json:"spec"`
}

// PromptPortfolioList is a list of PromptPortfolio.
// +kubebuilder:object:root=true
type PromptPortfolioList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PromptPortfolio `json:"items"`
}

// PromptArmList is a list of PromptArm.
// +kubebuilder:object:root=true
type PromptArmList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PromptArm `json:"items"`
}

// PromptCounterReportList is a list of PromptCounterReport.
// +kubebuilder:object:root=true
type PromptCounterReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PromptCounterReport `json:"items"`
}

// addKnownTypes registers the kinds of this group version and its list and option types.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&PromptPortfolio{}, &PromptPortfolioList{},
		&PromptArm{}, &PromptArmList{},
		&PromptCounterReport{}, &PromptCounterReportList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
