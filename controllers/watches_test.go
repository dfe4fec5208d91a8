package controllers

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/scheme"
)

// TestWatchErrors checks which errors of an informer start a failure of its kind: not the ends
// of a watch after which the informer lists again at once.
func TestWatchErrors(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "promptcounterreports"}, "", errors.New("no"))
	tests := []struct {
		name    string
		err     error
		failing bool
	}{
		{"forbidden list", forbidden, true},
		{"wrapped by the reflector", errors.Join(errors.New("failed to list PromptCounterReport"), forbidden), true},
		{"connection refused", errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), true},
		{"expired resource version", apierrors.NewResourceExpired("too old"), false},
		{"closed watch", io.EOF, false},
		{"cut watch", io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			h := NewWatchHealth(scheme.New(), WatchHealthOptions{Now: func() time.Time { return now }})
			r := toolscache.NewReflectorWithOptions(&stubLW{}, &promptsv1alpha1.PromptCounterReport{}, toolscache.NewStore(toolscache.MetaNamespaceKeyFunc),
				toolscache.ReflectorOptions{TypeDescription: kindCounterReport})
			h.watchError(context.Background(), r, tt.err)
			f, failing := h.tracker.Failure(kindCounterReport)
			if failing != tt.failing || (failing && !f.Since.Equal(now)) {
				t.Errorf("failing %v since %s, want %v since %s", failing, f.Since, tt.failing, now)
			}
		})
	}
}

// TestWatchedListerWatcher checks that each watch request is bounded by the watch timeout and
// that an accepted list or watch ends a failure while a refused one does not.
func TestWatchedListerWatcher(t *testing.T) {
	tests := []struct {
		name        string
		timeout     *int64
		err         error
		wantTimeout int64
		failing     bool
	}{
		{"no timeout asked: the bound", nil, nil, 60, false},
		{"client-go's timeout: the bound", ptr.To[int64](487), nil, 60, false},
		{"a shorter one stays", ptr.To[int64](20), nil, 20, false},
		{"refused: still failing", nil, errors.New("forbidden"), 60, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewWatchHealth(scheme.New(), WatchHealthOptions{})
			stub := &stubLW{err: tt.err}
			lw := &watchedLW{parent: stub, kind: kindCounterReport, health: h}
			for _, call := range []func() error{
				func() error {
					_, err := lw.WatchWithContext(context.Background(), metav1.ListOptions{TimeoutSeconds: tt.timeout})
					return err
				},
				func() error {
					_, err := lw.ListWithContext(context.Background(), metav1.ListOptions{})
					return err
				},
			} {
				h.tracker.Failed(kindCounterReport, errors.New("earlier"), time.Now())
				if err := call(); !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if _, failing := h.tracker.Failure(kindCounterReport); failing != tt.failing {
					t.Errorf("failing %v after the call, want %v", failing, tt.failing)
				}
			}
			if stub.timeout == nil || *stub.timeout != tt.wantTimeout {
				t.Errorf("watch timeout %v, want %d", stub.timeout, tt.wantTimeout)
			}
		})
	}
}

// stubLW answers lists with an empty list and watches with a watch that never sends, or err.
type stubLW struct {
	err     error
	timeout *int64
}

func (s *stubLW) List(metav1.ListOptions) (runtime.Object, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &promptsv1alpha1.PromptCounterReportList{}, nil
}

func (s *stubLW) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	s.timeout = opts.TimeoutSeconds
	if s.err != nil {
		return nil, s.err
	}
	return watch.NewFake(), nil
}
