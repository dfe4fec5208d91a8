package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec     string
		interval time.Duration // 0 for a cron schedule
	}{
		{spec: "24h", interval: 24 * time.Hour},
		{spec: "90s", interval: 90 * time.Second},
		{spec: "1h30m", interval: 90 * time.Minute},
		{spec: "0 3 * * *"},
		{spec: "*/15 * * * 1-5"},
		{spec: "@daily"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			if got, ok := s.Interval(); got != tt.interval || ok != (tt.interval > 0) {
				t.Errorf("Interval() = %v, %v; want %v", got, ok, tt.interval)
			}
			if s.String() != tt.spec {
				t.Errorf("String() = %q", s.String())
			}
		})
	}
}

// TestParseRejects checks that every invalid spec is an error that says what is wrong.
func TestParseRejects(t *testing.T) {
	for spec, want := range map[string]string{
		"":           "empty",
		"500ms":      "shorter than",
		"@every 1h":  "interval alone",
		"0 3 * *":    "neither a duration nor a cron",
		"61 * * * *": "neither a duration nor a cron",
		"soon":       "neither a duration nor a cron",
	} {
		if _, err := Parse(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", spec, err, want)
		}
	}
}

func TestNext(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)
	tests := []struct {
		name     string
		spec     string
		min, max time.Time
	}{
		{name: "interval with jitter", spec: "24h", min: base.Add(24 * time.Hour), max: base.Add(24*time.Hour + 144*time.Minute)},
		{name: "short interval", spec: "10s", min: base.Add(10 * time.Second), max: base.Add(11 * time.Second)},
		{name: "cron daily at three", spec: "0 3 * * *", min: time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC), max: time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)},
		{name: "descriptor hourly", spec: "@hourly", min: base.Truncate(time.Hour).Add(time.Hour), max: base.Truncate(time.Hour).Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(base, "ns/pf")
			if got.Before(tt.min) || got.After(tt.max) {
				t.Errorf("Next = %v, want within [%v, %v]", got, tt.min, tt.max)
			}
			if again := s.Next(base, "ns/pf"); !again.Equal(got) {
				t.Errorf("Next is not deterministic: %v then %v", got, again)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	max := time.Hour
	seen := map[time.Duration]bool{}
	for i := range 50 {
		j := Jitter("ns/pf-"+string(rune('a'+i%26))+string(rune('a'+i/26)), base, max)
		if j < 0 || j >= max {
			t.Fatalf("Jitter = %v, outside [0, %v)", j, max)
		}
		seen[j] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct jitters for 50 keys", len(seen))
	}
	if Jitter("k", base, 0) != 0 || Jitter("k", base, -time.Second) != 0 {
		t.Error("Jitter with a non-positive max must be zero")
	}
}

func TestDecide(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	hourly, err := Parse("1h")
	if err != nil {
		t.Fatal(err)
	}
	const key = "default/pf"
	firstDue := hourly.Next(created, key)
	last := created.Add(5 * time.Hour)
	nextAfterLast := hourly.Next(last, key)

	tests := []struct {
		name        string
		st          State
		wantDue     bool
		wantTrigger Trigger
		wantNext    time.Time
	}{
		{name: "new portfolio waits one interval", st: State{Now: created.Add(time.Minute), Created: created, Key: key}, wantNext: firstDue},
		{name: "first cycle due", st: State{Now: firstDue, Created: created, Key: key}, wantDue: true, wantTrigger: TriggerSchedule, wantNext: firstDue},
		{name: "counts from the last cycle", st: State{Now: last.Add(30 * time.Minute), Created: created, LastCycle: last, Key: key}, wantNext: nextAfterLast},
		{name: "missed slots run once", st: State{Now: last.Add(100 * time.Hour), Created: created, LastCycle: last, Key: key}, wantDue: true, wantTrigger: TriggerSchedule, wantNext: nextAfterLast},
		{name: "request wins", st: State{Now: last.Add(time.Minute), Created: created, LastCycle: last, Key: key, Request: "r1"}, wantDue: true, wantTrigger: TriggerRequested, wantNext: nextAfterLast},
		{name: "handled request does not run again", st: State{Now: last.Add(time.Minute), Created: created, LastCycle: last, Key: key, Request: "r1", LastHandledRequest: "r1"}, wantNext: nextAfterLast},
		{name: "every trials reached", st: State{Now: last.Add(time.Minute), Created: created, LastCycle: last, Key: key, EveryTrials: 100, Trials: 350, TrialsAtLastCycle: 250}, wantDue: true, wantTrigger: TriggerEveryTrials, wantNext: nextAfterLast},
		{name: "every trials not reached", st: State{Now: last.Add(time.Minute), Created: created, LastCycle: last, Key: key, EveryTrials: 100, Trials: 349, TrialsAtLastCycle: 250}, wantNext: nextAfterLast},
		{name: "suspended", st: State{Now: last.Add(100 * time.Hour), Created: created, LastCycle: last, Key: key, Suspend: true, Request: "r2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := hourly.Decide(tt.st)
			if d.Due != tt.wantDue || d.Trigger != tt.wantTrigger || !d.Next.Equal(tt.wantNext) {
				t.Errorf("Decide = %+v, want due=%v trigger=%q next=%v", d, tt.wantDue, tt.wantTrigger, tt.wantNext)
			}
		})
	}
}
