package selector

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// homeServer is a test API served over HTTP on 127.0.0.1, advertising its own address.
type homeServer struct {
	api *api
	srv *httptest.Server
	url string
}

func newHomeServer(t *testing.T) *homeServer {
	t.Helper()
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	a.now = time.Now
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.home = strings.TrimPrefix(srv.URL, "http://")
	return &homeServer{api: a, srv: srv, url: srv.URL}
}

// post sends a reward for decision to h with the given headers and returns the status and the
// answer's reason.
func (h *homeServer) post(t *testing.T, decision string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+PathReward, strings.NewReader(string(rewardBody(decision, true))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e errorBody
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Reason
}

// TestRewardCountedAtHome draws at one selector and rewards the decision at others, over real
// HTTP servers: every reward is forwarded to the selector that drew it, which counts it once and
// answers 409 for every later attempt, wherever it was sent.
func TestRewardCountedAtHome(t *testing.T) {
	a, b, c := newHomeServer(t), newHomeServer(t), newHomeServer(t)
	d := drawOne(t, a.api).Decision
	steps := []struct {
		name   string
		at     *homeServer
		header http.Header
		status int
		reason string
	}{
		{"first reward at another selector", b, nil, http.StatusAccepted, ""},
		{"again at a third", c, nil, http.StatusConflict, ReasonDuplicate},
		{"again at the home", a, nil, http.StatusConflict, ReasonDuplicate},
		{"again where it was first sent", b, nil, http.StatusConflict, ReasonDuplicate},
		{"a retry naming another writer is still checked at the home", c, http.Header{WriterHeader: {"someone-else"}}, http.StatusConflict, ReasonDuplicate},
		{"a forwarded reward is not forwarded again", c, http.Header{ForwardedHeader: {"sel-b"}}, http.StatusMisdirectedRequest, ReasonMisdirected},
	}
	for _, s := range steps {
		if status, reason := s.at.post(t, d, s.header); status != s.status || reason != s.reason {
			t.Errorf("%s: answered %d %q, want %d %q", s.name, status, reason, s.status, s.reason)
		}
	}
	all := *a.api.reg.portfolio("pf").all.Load()
	if n := all["pf-a"].ackedS.Load(); n != 1 {
		t.Errorf("the home counted %d successes, want 1", n)
	}
	for _, other := range []*homeServer{b, c} {
		if n := (*other.api.reg.portfolio("pf").all.Load())["pf-a"].ackedS.Load(); n != 0 {
			t.Errorf("a selector that is not the home counted %d successes", n)
		}
	}
	if got := metricValue(t, b.api, `promptfolio_selector_forwarded_rewards_total{code="202"}`); got != "1" {
		t.Errorf("forwarded 202s at b: %q", got)
	}
}

// TestRewardHomeGone checks the answers when the home cannot count: it does not listen (503, not
// counted), or it listens but no longer knows the issuer, as a new pod that got the old one's
// address (410).
func TestRewardHomeGone(t *testing.T) {
	a, b := newHomeServer(t), newHomeServer(t)
	d := drawOne(t, a.api).Decision
	a.srv.Close()
	if status, reason := b.post(t, d, nil); status != http.StatusServiceUnavailable || reason != ReasonHomeUnavailable {
		t.Errorf("home down: answered %d %q, want 503 %q", status, reason, ReasonHomeUnavailable)
	}

	c := newHomeServer(t)
	d = drawOne(t, c.api).Decision
	c.api.lineage = []uint64{c.api.issuer + 1} // another process now serves c's address
	if status, reason := c.post(t, d, nil); status != http.StatusGone || reason != ReasonIssuerGone {
		t.Errorf("issuer gone: answered %d %q, want 410 %q", status, reason, ReasonIssuerGone)
	}
	if status, reason := b.post(t, d, nil); status != http.StatusGone || reason != ReasonIssuerGone {
		t.Errorf("issuer gone, through another selector: answered %d %q, want 410 %q", status, reason, ReasonIssuerGone)
	}
}

// TestRewardHomeUnanswered checks that a home that takes the request but does not answer within
// the forward timeout gives 504: the reward may have been counted.
func TestRewardHomeUnanswered(t *testing.T) {
	b := newHomeServer(t)
	b.api.forwarder = newForwarder(200 * time.Millisecond)
	b.api.forwardTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1) // the connection is taken and never answered
	go func() {
		if conn, err := ln.Accept(); err == nil {
			held <- conn
		}
	}()
	defer func() {
		select {
		case conn := <-held:
			conn.Close()
		default:
		}
	}()
	tok := string(appendToken(nil, new([]byte), newSigningKey(testKey),
		Decision{Portfolio: "pf", Arm: "pf-a", IssuedAt: time.Now(), Issuer: 5, Seq: 1, Home: ln.Addr().String()}))
	if status, reason := b.post(t, tok, nil); status != http.StatusGatewayTimeout || reason != ReasonHomeUnanswered {
		t.Errorf("answered %d %q, want 504 %q", status, reason, ReasonHomeUnanswered)
	}
}

func metricValue(t *testing.T, a *api, series string) string {
	t.Helper()
	w := do(a, http.MethodGet, PathMetrics, nil)
	for line := range strings.SplitSeq(w.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
