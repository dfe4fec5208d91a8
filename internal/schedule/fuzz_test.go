package schedule

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary schedule strings to Parse and checks what every accepted schedule
// promises: its text round-trips, and Next and Decide neither panic nor go back in time and
// give the same answer twice. The seed corpus is in testdata/fuzz/FuzzParse, next to the cases
// added here.
func FuzzParse(f *testing.F) {
	for _, spec := range []string{
		"24h", "90s", "1h30m", " 15m ", "0 3 * * *", "*/5 * * * *", "@daily", "@hourly",
		"0 0 30 2 *", "500ms", "-1h", "@every 1h", "", "* * * *", "0 0 1 1 * *", "2562047h",
	} {
		f.Add(spec)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error", spec)
			}
			return
		}
		if s.String() != strings.TrimSpace(spec) {
			t.Fatalf("Parse(%q).String() = %q", spec, s.String())
		}
		again, err := Parse(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("Parse(%q) does not round-trip: %v", s.String(), err)
		}
		if d, ok := s.Interval(); ok && d < MinInterval {
			t.Fatalf("Parse(%q) accepted interval %v below %v", spec, d, MinInterval)
		}
		next := s.Next(base, "key")
		if !next.IsZero() && !next.After(base) {
			t.Fatalf("Parse(%q).Next(%v) = %v, not after it", spec, base, next)
		}
		if again := s.Next(base, "key"); !again.Equal(next) {
			t.Fatalf("Parse(%q).Next is not deterministic: %v, %v", spec, next, again)
		}
		d := s.Decide(State{Now: base.Add(time.Hour), Created: base, Key: "key", EveryTrials: 10, Trials: 5})
		if d.Due != (d.Trigger != "") || !d.Next.Equal(next) {
			t.Fatalf("Parse(%q).Decide = %+v, next %v", spec, d, next)
		}
	})
}
