package selector

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdvertisedAddress(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name, explicit, podIP, listen, want string
		wantErr                             bool
	}{
		{"explicit", "10.0.0.9:9000", "10.1.1.1", "0.0.0.0:8686", "10.0.0.9:9000", false},
		{"none", "none", "10.1.1.1", "0.0.0.0:8686", "", false},
		{"not host:port", "10.0.0.9", "", "0.0.0.0:8686", "", true},
		{"too long", strings.Repeat("h", 300) + ":1", "", "0.0.0.0:8686", "", true},
		{"all addresses in a pod", "", "10.1.1.1", "0.0.0.0:8686", "10.1.1.1:8686", false},
		{"all addresses, IPv6 pod", "", "fd00::5", "[::]:8686", "[fd00::5]:8686", false},
		{"a named address", "", "10.1.1.1", "10.2.2.2:8686", "10.2.2.2:8686", false},
		{"loopback in a pod cannot be reached", "", "10.1.1.1", "127.0.0.1:8088", "", false},
		{"loopback on one host", "", "", "127.0.0.1:8088", "127.0.0.1:8088", false},
		{"all addresses, no pod IP", "", "", "0.0.0.0:8686", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := advertisedAddress(tt.explicit, tt.podIP, tcp(tt.listen))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("advertisedAddress = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestLineage checks that a state directory's issuers are kept while their decisions may be
// rewarded, across restarts, and dropped after.
func TestLineage(t *testing.T) {
	dir := t.TempDir()
	ttl := 10 * time.Minute
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	starts := []struct {
		issuer uint64
		at     time.Time
		want   []uint64
	}{
		{1, t0, []uint64{1}},
		{2, t0.Add(time.Minute), []uint64{1, 2}},
		{3, t0.Add(5 * time.Minute), []uint64{1, 2, 3}},
		// Issuer 1's last decision was issued before 2 started (t0+1m): expired after t0+11m,
		// kept through the clock skew.
		{4, t0.Add(12*time.Minute + time.Second), []uint64{2, 3, 4}},
		{5, t0.Add(time.Hour), []uint64{4, 5}},
	}
	for _, s := range starts {
		got, err := openLineage(dir, s.issuer, ttl, s.at)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("issuer %d at %v: lineage %v, want %v", s.issuer, s.at.Sub(t0), got, s.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, issuersFile), []byte("zz 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openLineage(dir, 6, ttl, t0); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a broken issuers file: %v", err)
	}
}
