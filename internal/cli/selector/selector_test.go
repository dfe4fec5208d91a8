package selector

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestSetMemoryLimit checks the --memory-limit flag: the default, a quantity, 0 for no limit, a
// limit from $GOMEMLIMIT kept, and a malformed value refused.
func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, c := range []struct {
		value  string
		envSet bool
		want   int64
	}{
		{"", false, 24 << 20},
		{"64Mi", false, 64 << 20},
		{"0", false, math.MaxInt64},
		{"", true, 123 << 20},
	} {
		debug.SetMemoryLimit(123 << 20)
		got, err := setMemoryLimit(c.value, c.envSet)
		if err != nil || got != c.want || debug.SetMemoryLimit(-1) != c.want {
			t.Errorf("setMemoryLimit(%q, %v) = %d, %v; runtime limit %d; want %d", c.value, c.envSet, got, err, debug.SetMemoryLimit(-1), c.want)
		}
	}
	for _, bad := range []string{"lots", "-1Mi"} {
		if _, err := setMemoryLimit(bad, false); err == nil {
			t.Errorf("setMemoryLimit(%q) accepted a bad value", bad)
		}
	}
}
