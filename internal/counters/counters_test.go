package counters

import (
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

func wc(writer string, s, f int64) v1alpha1.WriterCount {
	return v1alpha1.WriterCount{Writer: writer, Successes: s, Failures: f}
}

func rc(s, f int64) v1alpha1.RewardCount { return v1alpha1.RewardCount{Successes: s, Failures: f} }

func TestTotals(t *testing.T) {
	tests := []struct {
		name string
		c    *v1alpha1.RewardCounters
		want v1alpha1.RewardCount
	}{
		{"nil", nil, rc(0, 0)},
		{"base only", &v1alpha1.RewardCounters{Base: rc(3, 4)}, rc(3, 4)},
		{"writers", &v1alpha1.RewardCounters{Base: rc(1, 1), Writers: []v1alpha1.WriterCount{wc("a", 2, 3), wc("b", 10, 0)}}, rc(13, 4)},
		{"late write after fold counts the increase only", &v1alpha1.RewardCounters{
			Base: rc(5, 5), Writers: []v1alpha1.WriterCount{wc("a", 7, 5)}, Folded: []v1alpha1.WriterCount{wc("a", 5, 5)},
		}, rc(7, 5)},
		{"stale write below the fold counts nothing", &v1alpha1.RewardCounters{
			Base: rc(5, 5), Writers: []v1alpha1.WriterCount{wc("a", 3, 1)}, Folded: []v1alpha1.WriterCount{wc("a", 5, 5)},
		}, rc(5, 5)},
		{"negative entries count as zero", &v1alpha1.RewardCounters{Writers: []v1alpha1.WriterCount{wc("a", -3, 2)}}, rc(0, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Totals(tt.c); got != tt.want {
				t.Errorf("Totals = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFoldKeepsTotals(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name        string
		c           v1alpha1.RewardCounters
		writer      string
		changed     bool
		wantBase    v1alpha1.RewardCount
		wantFolded  v1alpha1.WriterCount
		wantWriters int
	}{
		{"first fold", v1alpha1.RewardCounters{Base: rc(1, 2), Writers: []v1alpha1.WriterCount{wc("a", 3, 4), wc("b", 1, 1)}},
			"a", true, rc(4, 6), wc("a", 3, 4), 1},
		{"second fold after a late write", v1alpha1.RewardCounters{Base: rc(3, 4), Writers: []v1alpha1.WriterCount{wc("a", 5, 4)}, Folded: []v1alpha1.WriterCount{wc("a", 3, 4)}},
			"a", true, rc(5, 4), wc("a", 5, 4), 0},
		{"fold of a stale entry lowers nothing", v1alpha1.RewardCounters{Base: rc(3, 4), Writers: []v1alpha1.WriterCount{wc("a", 1, 9)}, Folded: []v1alpha1.WriterCount{wc("a", 3, 4)}},
			"a", true, rc(3, 9), wc("a", 3, 9), 0},
		{"unknown writer", v1alpha1.RewardCounters{Base: rc(3, 4), Writers: []v1alpha1.WriterCount{wc("a", 1, 1)}},
			"b", false, rc(3, 4), v1alpha1.WriterCount{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c.DeepCopy()
			before := Totals(c)
			if got := Fold(c, tt.writer, now); got != tt.changed {
				t.Fatalf("Fold changed = %v, want %v", got, tt.changed)
			}
			if after := Totals(c); after != before {
				t.Errorf("Totals changed by the fold: %+v -> %+v", before, after)
			}
			if c.Base != tt.wantBase {
				t.Errorf("base = %+v, want %+v", c.Base, tt.wantBase)
			}
			if len(c.Writers) != tt.wantWriters {
				t.Errorf("writers = %v, want %d entries", c.Writers, tt.wantWriters)
			}
			if !tt.changed {
				return
			}
			i := indexOf(c.Folded, tt.writer)
			if i < 0 {
				t.Fatalf("no folded record for %q", tt.writer)
			}
			got := c.Folded[i]
			if got.Successes != tt.wantFolded.Successes || got.Failures != tt.wantFolded.Failures || got.UpdateTime == nil {
				t.Errorf("folded = %+v, want %+v with a time", got, tt.wantFolded)
			}
		})
	}
}

func TestFoldBoundsFolded(t *testing.T) {
	c := &v1alpha1.RewardCounters{}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range MaxFolded + 20 {
		w := fmt.Sprintf("w%04d", i)
		c.Writers = append(c.Writers, wc(w, 1, 1))
		Fold(c, w, start.Add(time.Duration(i)*time.Second))
	}
	if len(c.Folded) != MaxFolded {
		t.Fatalf("folded has %d records, want %d", len(c.Folded), MaxFolded)
	}
	if indexOf(c.Folded, "w0000") >= 0 || indexOf(c.Folded, fmt.Sprintf("w%04d", MaxFolded+19)) < 0 {
		t.Errorf("the oldest records should be dropped first")
	}
	if got := Totals(c); got != rc(MaxFolded+20, MaxFolded+20) {
		t.Errorf("Totals = %+v", got)
	}
}

func TestSeen(t *testing.T) {
	c := &v1alpha1.RewardCounters{Writers: []v1alpha1.WriterCount{wc("a", 2, 9)}, Folded: []v1alpha1.WriterCount{wc("a", 5, 1)}}
	if got := Seen(c, "a"); got != rc(5, 9) {
		t.Errorf("Seen(a) = %+v", got)
	}
	if got := Seen(c, "b"); got != rc(0, 0) {
		t.Errorf("Seen(b) = %+v", got)
	}
	if got := Seen(nil, "a"); got != rc(0, 0) {
		t.Errorf("Seen(nil) = %+v", got)
	}
}

func TestGone(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	grace := time.Minute
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	lease := func(renew *metav1.Time, seconds int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: (*metav1.MicroTime)(renew), LeaseDurationSeconds: ptr.To(seconds)}}
	}
	tests := []struct {
		name  string
		entry v1alpha1.WriterCount
		lease *coordinationv1.Lease
		want  bool
	}{
		{"renewed lease", wc("a", 1, 1), lease(at(-5*time.Second), 30), false},
		{"expired within grace", wc("a", 1, 1), lease(at(-80*time.Second), 30), false},
		{"expired beyond grace", wc("a", 1, 1), lease(at(-100*time.Second), 30), true},
		{"no lease, recent flush", v1alpha1.WriterCount{Writer: "a", UpdateTime: at(-10 * time.Second)}, nil, false},
		{"no lease, old flush", v1alpha1.WriterCount{Writer: "a", UpdateTime: at(-2 * time.Minute)}, nil, true},
		{"no lease, no time", wc("a", 1, 1), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Gone(tt.entry, tt.lease, now, grace); got != tt.want {
				t.Errorf("Gone = %v, want %v", got, tt.want)
			}
		})
	}
}
