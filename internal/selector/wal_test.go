package selector

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestWALReplay writes rewards from many goroutines, reopens the record as a restarted process
// does, and checks the counts, the decisions and that a torn tail is ignored.
func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	w, rep, err := openWAL(dir, time.Hour, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.counts) != 0 || len(rep.decisions) != 0 {
		t.Fatalf("a new directory replayed %+v", rep)
	}
	if _, _, err := openWAL(dir, time.Hour, clock.now); err == nil {
		t.Fatal("a second process opened the same state directory")
	}
	expires := clock.t.Add(10 * time.Minute)
	recordConcurrently(t, 8, func(g int) error {
		for i := range 100 {
			if err := recordSynced(w, []string{"a", "b"}[i%2], i%4 == 0, uint64(g), uint64(i), expires); err != nil {
				return err
			}
		}
		return nil
	})
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a write leaves a partial frame after the last whole one.
	seg := lastSegment(t, dir)
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := 0
	for end+frameHeader <= len(raw) {
		n := int(binary.BigEndian.Uint32(raw[end:]))
		if n == 0 {
			break
		}
		end += frameHeader + n
	}
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 30, 1, 2, 3, 4, recReward, 0}, int64(end)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	w, rep, err = openWAL(dir, time.Hour, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]walCounts{"pf/a": {200, 200}, "pf/b": {0, 400}}
	for k, c := range want {
		if rep.counts[k] != c {
			t.Errorf("replayed %s = %+v, want %+v", k, rep.counts[k], c)
		}
	}
	if len(rep.decisions) != 800 {
		t.Errorf("replayed %d decisions, want 800", len(rep.decisions))
	}
	// The restarted process counts on from the checkpoint of its new segment.
	b, _ := w.record("pf", "a", true, 99, 1, expires)
	if err := b.wait(); err != nil {
		t.Fatal(err)
	}
	w.close()
	_, rep, err = openWAL(dir, time.Hour, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.counts["pf/a"] != (walCounts{201, 200}) || len(rep.decisions) != 801 {
		t.Errorf("after a second start: %+v, %d decisions", rep.counts["pf/a"], len(rep.decisions))
	}
}

// TestWALRotation checks that segments turn, that old ones go once their decisions expired, and
// that the counts survive both.
func TestWALRotation(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock.t }
	advance := func(d time.Duration) { mu.Lock(); clock.t = clock.t.Add(d); mu.Unlock() }
	w, _, err := openWAL(dir, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := recordSynced(w, "a", true, 1, uint64(i), now().Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		advance(20 * time.Second)
	}
	w.close()
	nums, _ := (&wal{dir: dir}).segmentNumbers()
	// 30 rewards 20 s apart turn the segment every minute; decisions live 2 minutes, so only the
	// last few segments are kept.
	if len(nums) < 2 || len(nums) > 5 {
		t.Errorf("%d segments left: %v", len(nums), nums)
	}
	_, rep, err := openWAL(dir, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.counts["pf/a"] != (walCounts{30, 0}) {
		t.Errorf("counts after rotation %+v, want 30/0", rep.counts["pf/a"])
	}
	for _, d := range rep.decisions {
		if !d.expires.After(now()) {
			t.Errorf("an expired decision was replayed: %+v", d)
		}
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segment: %v", err)
	}
	return m[len(m)-1]
}

// TestWALGrows writes past the zeros a segment starts with and checks that nothing is lost.
func TestWALGrows(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	w, _, err := openWAL(dir, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	// Enough rewards for more than one preallocated stretch, in large batches.
	n := preallocate/30 + 10000
	const writers = 256
	recordConcurrently(t, writers, func(g int) error {
		for i := g; i < n; i += writers {
			if err := recordSynced(w, "a", true, 1, uint64(i), now().Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	w.close()
	_, rep, err := openWAL(dir, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.counts["pf/a"]; got != (walCounts{int64(n), 0}) || len(rep.decisions) != n {
		t.Errorf("replayed %+v and %d decisions, want %d", got, len(rep.decisions), n)
	}
}

// recordSynced records a reward of portfolio "pf" and waits for its group commit.
func recordSynced(w *wal, arm string, success bool, issuer, seq uint64, expires time.Time) error {
	b, err := w.record("pf", arm, success, issuer, seq, expires)
	if err == nil {
		err = b.wait()
	}
	return err
}

// recordConcurrently runs record(g) in n goroutines at once, as concurrent reward handlers, and
// fails t with the errors they return.
func recordConcurrently(t *testing.T, n int, record func(g int) error) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			if err := record(g); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
