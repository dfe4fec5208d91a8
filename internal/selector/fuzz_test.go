package selector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// FuzzParseToken checks that the token parser never panics, and that whatever it accepts encodes
// back to the same token.
func FuzzParseToken(f *testing.F) {
	k := newSigningKey(testKey)
	f.Add(string(appendToken(nil, new([]byte), k, Decision{Portfolio: "pf", Arm: "pf-a", IssuedAt: time.UnixMilli(1), Issuer: 1, Seq: 1})))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseToken(new([maxRawToken]byte), []byte(s))
		if err != nil {
			return
		}
		d := decisionOf(&p)
		again := string(appendToken(nil, new([]byte), k, d))
		q, err := parseFresh(again)
		if got := decisionOf(&q); err != nil || got != d {
			t.Fatalf("round trip of %+v: %+v, %v", d, got, err)
		}
	})
}

// FuzzRewardBody checks that the reward body fast path never panics and that encoding/json decodes
// every body it accepts to the same values.
func FuzzRewardBody(f *testing.F) {
	f.Add([]byte(`{"decision":"AQ","success":true}`))
	f.Add([]byte(`{"success":false,"decision":"AQ"}`))
	f.Fuzz(checkRewardBodyAsJSON)
}

// FuzzHandlers sends arbitrary requests to the HTTP API: it must never panic, always answer JSON,
// and only ever answer the documented statuses. A reward is counted only when answered 202.
func FuzzHandlers(f *testing.F) {
	f.Add("POST", PathReward, []byte(`{"decision":"x","success":true}`))
	f.Add("GET", PathDraw+"?portfolio=pf", []byte(nil))
	f.Add("POST", PathDraw, []byte(`{"portfolio":"pf"}`))
	f.Add("GET", PathReadyz, []byte(nil))
	f.Add("POST", PathReward, []byte(`{"decision":null,"success":"yes"}`))
	f.Add("GET", PathDraw+"?portfolio=%zz", []byte(nil))
	a, clock := newTestAPI(f, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive, "pf-b": v1alpha1.ArmRetired})
	valid := string(appendToken(nil, new([]byte), newSigningKey(testKey), Decision{Portfolio: "pf", Arm: "pf-a", IssuedAt: clock.t, Issuer: 1, Seq: 5}))
	body, _ := json.Marshal(map[string]any{"decision": valid, "success": false})
	f.Add("POST", PathReward, body)
	allowed := map[int]bool{200: true, 202: true, 400: true, 401: true, 404: true, 405: true, 409: true, 410: true, 412: true, 413: true, 503: true}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if !validMethod(method) || len(target) == 0 || target[0] != '/' {
			return
		}
		r, err := http.NewRequest(method, "http://selector"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if r.URL.Path == PathMetrics {
			return // the Prometheus handler has its own answers
		}
		before := a.reg.portfolio("pf").all.Load()
		sum := func() int64 {
			var n int64
			for _, arm := range *before {
				n += arm.ackedS.Load() + arm.ackedF.Load()
			}
			return n
		}
		n0 := sum()
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("%s %s answered %d", method, target, w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s answered %q, not JSON", method, target, w.Body)
		}
		counted := sum() - n0
		if (w.Code == http.StatusAccepted) != (counted == 1) || counted > 1 {
			t.Fatalf("answered %d and counted %d rewards", w.Code, counted)
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 10 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
