package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// armStatusApply is the part of a PromptArm's status the controller owns, as it is sent with
// server-side apply.
type armStatusApply struct {
	ObservedGeneration int64                             `json:"observedGeneration,omitempty"`
	Phase              promptsv1alpha1.ArmPhase          `json:"phase"`
	Retirement         *promptsv1alpha1.Retirement       `json:"retirement,omitempty"`
	Successes          int64                             `json:"successes"`
	Failures           int64                             `json:"failures"`
	Trials             int64                             `json:"trials"`
	Alpha              float64                           `json:"alpha"`
	Beta               float64                           `json:"beta"`
	Mean               float64                           `json:"mean"`
	CredibleInterval   *promptsv1alpha1.CredibleInterval `json:"credibleInterval,omitempty"`
	ProbBest           float64                           `json:"probBest"`
	TrafficShare       float64                           `json:"trafficShare"`
	Traffic            *promptsv1alpha1.ArmTraffic       `json:"traffic,omitempty"`
	Display            *promptsv1alpha1.ArmDisplay       `json:"display,omitempty"`
	ReportInterval     *metav1.Duration                  `json:"reportInterval,omitempty"`
}

// controllerArmStatus extracts the controller's fields of an arm's status.
func controllerArmStatus(st *promptsv1alpha1.PromptArmStatus) armStatusApply {
	return armStatusApply{
		ObservedGeneration: st.ObservedGeneration,
		Phase:              st.Phase,
		Retirement:         st.Retirement,
		Successes:          st.Successes,
		Failures:           st.Failures,
		Trials:             st.Trials,
		Alpha:              st.Alpha,
		Beta:               st.Beta,
		Mean:               st.Mean,
		CredibleInterval:   st.CredibleInterval,
		ProbBest:           st.ProbBest,
		TrafficShare:       st.TrafficShare,
		Traffic:            st.Traffic,
		Display:            st.Display,
		ReportInterval:     st.ReportInterval,
	}
}

// statusApply is the body of a server-side apply of the status subresource.
type statusApply struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   applyMetadata `json:"metadata"`
	Status     any           `json:"status"`
}

type applyMetadata struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// ResourceVersion, when set, makes the apply conditional: it fails with a conflict when the
	// object changed since it was read.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// applyStatus sends status with server-side apply under the controller's field manager and
// decodes the response into obj. With resourceVersion set the write is optimistic-locked.
func (r *PortfolioReconciler) applyStatus(ctx context.Context, obj client.Object, kind, resourceVersion string, status any) error {
	body, err := json.Marshal(statusApply{
		APIVersion: promptsv1alpha1.GroupVersion.String(),
		Kind:       kind,
		Metadata:   applyMetadata{Name: obj.GetName(), Namespace: obj.GetNamespace(), ResourceVersion: resourceVersion},
		Status:     status,
	})
	if err != nil {
		return fmt.Errorf("encoding %s status: %w", kind, err)
	}
	if err := r.Client.Status().Patch(ctx, obj, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner(promptsv1alpha1.FieldManagerController), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying status of %s %s: %w", kind, obj.GetName(), err)
	}
	metrics.StatusWrite(kind)
	return nil
}

// maxParallelArmWrites bounds the arm status writes of one reconcile sent at once: they are
// independent objects, and one after the other a pass would take arms × the API server's
// latency, which a loaded API server makes seconds.
const maxParallelArmWrites = 8

// applyArmStatuses writes the controller's fields of every arm whose fields differ from the
// snapshot taken when the arms were read.
func (r *PortfolioReconciler) applyArmStatuses(ctx context.Context, s *portfolioState) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelArmWrites)
	for _, arm := range s.arms {
		want := controllerArmStatus(&arm.Status)
		if before, ok := s.armSnapshots[arm.Name]; ok && equality.Semantic.DeepEqual(before, want) {
			continue
		}
		g.Go(func() error {
			target := &promptsv1alpha1.PromptArm{ObjectMeta: metav1.ObjectMeta{Name: arm.Name, Namespace: arm.Namespace}}
			if err := r.applyStatus(gctx, target, "PromptArm", "", want); err != nil {
				return err
			}
			mu.Lock()
			s.armSnapshots[arm.Name] = want
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// applyPortfolioStatus writes the whole status of the portfolio (all of it is the controller's),
// conditional on the resource version it was read at, and keeps the new resource version.
func (r *PortfolioReconciler) applyPortfolioStatus(ctx context.Context, pf *promptsv1alpha1.PromptPortfolio) error {
	target := &promptsv1alpha1.PromptPortfolio{ObjectMeta: metav1.ObjectMeta{Name: pf.Name, Namespace: pf.Namespace}}
	if err := r.applyStatus(ctx, target, "PromptPortfolio", pf.ResourceVersion, pf.Status); err != nil {
		return err
	}
	pf.ResourceVersion = target.ResourceVersion
	return nil
}
