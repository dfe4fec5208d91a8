package bandit

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// loadFixture decodes a JSON test fixture written by a script in
// hack/bandit; numbers are strings so that no digit is lost.
func loadFixture[T any](t *testing.T, path string) []T {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var doc struct{ Cases []T }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if len(doc.Cases) == 0 {
		t.Fatalf("%s holds no cases", path)
	}
	return doc.Cases
}

// parse converts a fixture number.
func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}
