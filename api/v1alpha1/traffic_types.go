package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MaxTrafficHistory is the number of closed traffic windows a PromptPortfolio's status keeps.
const MaxTrafficHistory = 24

// TrafficWindow is one closed traffic window of a portfolio: a span of time in which its arms'
// trials were counted together. A window closes at the first statistics pass at least 15 minutes
// (the manager's --traffic-window) after it opened once it holds at least 100 trials.
type TrafficWindow struct {
	// start is when the window opened.
	Start metav1.Time `json:"start"`
	// end is when the window closed.
	End metav1.Time `json:"end"`
	// arms lists the arms that received trials in the window with their trials, most trials
	// first; at most 100 arms, the rest left out.
	// +optional
	// +listType=map
	// +listMapKey=arm
	// +kubebuilder:validation:MaxItems=100
	Arms []ArmTrials `json:"arms,omitempty"`
}

// ArmTrials is one arm's trials in a traffic window.
type ArmTrials struct {
	// arm is the name of the PromptArm.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Arm string `json:"arm"`
	// trials counted for the arm in the window.
	// +kubebuilder:validation:Minimum=0
	Trials int64 `json:"trials"`
}

// ArmTraffic is an arm's trials in its portfolio's current and previous traffic windows, from
// which status.trafficShare is computed.
type ArmTraffic struct {
	// windowStartTrials is the arm's status.trials when the portfolio's current traffic window
	// opened (0 for an arm created since).
	// +kubebuilder:validation:Minimum=0
	WindowStartTrials int64 `json:"windowStartTrials"`
	// previousWindowTrials is the arm's trials in the portfolio's previous traffic window.
	// +kubebuilder:validation:Minimum=0
	PreviousWindowTrials int64 `json:"previousWindowTrials"`
}
