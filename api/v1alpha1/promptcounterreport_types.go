package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ArmCount is the cumulative count of rewards of one arm. Counts only rise: a write that lowers
// one is rejected, so a stale or confused writer cannot take back what it reported.
// +kubebuilder:validation:XValidation:rule="self.successes >= oldSelf.successes && self.failures >= oldSelf.failures",message="cumulative counts never decrease"
type ArmCount struct {
	// arm is the name of the PromptArm.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Arm string `json:"arm"`
	// successes counted.
	// +kubebuilder:validation:Minimum=0
	Successes int64 `json:"successes"`
	// failures counted.
	// +kubebuilder:validation:Minimum=0
	Failures int64 `json:"failures"`
}

// FoldedReport is what the ledger took from a deleted writer report whose finalizer it has not
// yet seen released. While the report still exists, only what it holds beyond these counts adds
// to the totals.
type FoldedReport struct {
	// report is the name of the folded PromptCounterReport.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Report string `json:"report"`
	// uid of the folded report.
	// +required
	UID types.UID `json:"uid"`
	// arms are the counts that were moved into the ledger.
	// +optional
	// +listType=map
	// +listMapKey=arm
	// +kubebuilder:validation:MaxItems=1000
	Arms []ArmCount `json:"arms,omitempty"`
}

// PromptCounterReportSpec is a writer's cumulative counts for the arms of one portfolio, or the
// portfolio's ledger. A writer only ever raises its counts, so writing the same report again is
// harmless and a late write never counts twice.
// +kubebuilder:validation:XValidation:rule="self.portfolio == oldSelf.portfolio",message="portfolio is immutable"
// +kubebuilder:validation:XValidation:rule="self.role == oldSelf.role",message="role is immutable"
// +kubebuilder:validation:XValidation:rule="self.role == 'Ledger' || !has(self.folded) || size(self.folded) == 0",message="only a Ledger report has folded reports"
type PromptCounterReportSpec struct {
	// portfolio is the name of the PromptPortfolio whose arms are counted.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	Portfolio string `json:"portfolio"`
	// role is Writer (a selector process) or Ledger (the controller).
	// +optional
	// +kubebuilder:default=Writer
	Role CounterReportRole `json:"role"`
	// writer names the selector process of a Writer report.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Writer string `json:"writer,omitempty"`
	// arms are the cumulative counts, one entry per arm that was rewarded.
	// +optional
	// +listType=map
	// +listMapKey=arm
	// +kubebuilder:validation:MaxItems=1000
	Arms []ArmCount `json:"arms,omitempty"`
	// folded lists deleted writer reports whose counts the ledger holds (Ledger only).
	// +optional
	// +listType=map
	// +listMapKey=report
	// +kubebuilder:validation:MaxItems=1000
	Folded []FoldedReport `json:"folded,omitempty"`
	// updateTime is when the report was last written.
	// +optional
	UpdateTime *metav1.Time `json:"updateTime,omitempty"`
}
