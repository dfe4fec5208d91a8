package selector

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/promptfolio/promptfolio/internal/bandit"
)

// Paths of the HTTP API; docs/api.md and docs/openapi.yaml describe them.
const (
	PathDraw    = "/v1/draw"
	PathReward  = "/v1/reward"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// WriterHeader names the selector process (its writer id) on every answer. A client that lost
// the answer to a reward sends its retry with this header set to the id it saw before; a
// different process answers 412 instead of counting the reward a second time, because only the
// process that may have counted it can tell a duplicate.
const WriterHeader = "Promptfolio-Writer"

// maxClockSkew is how far in the future a decision's issue time may lie: selectors of a portfolio
// run on different nodes whose clocks differ a little.
const maxClockSkew = time.Minute

// api serves the HTTP API over a registry. Draws and rewards take no global lock: they read the
// registry's published lists and change per-arm atomics.
type api struct {
	reg     *registry
	sampler *bandit.Sampler
	replay  *replayCache
	// issuer names this process in the decisions it issues, and seq counts them (Decision).
	issuer uint64
	seq    atomic.Uint64
	// home is this process's advertised host:port, written into its decisions; empty when it
	// advertises none. lineage holds the issuers whose decisions this process counts: its own
	// and those of earlier processes of its state directory (home.go).
	home    string
	lineage []uint64
	// forwarder sends rewards to their decisions' homes within forwardTimeout.
	forwarder      *http.Client
	forwardTimeout time.Duration
	metrics        *metrics
	ttl            time.Duration
	maxBody        int64
	now            func() time.Time
	// synced reports whether the informer's cache has synced.
	synced func() bool

	// accepting is cleared when shutdown begins; inflight counts rewards being recorded, so that
	// the final flush starts only after every acknowledged reward is in the counts.
	accepting atomic.Bool
	inflight  atomic.Int64

	// wal, when set, is the write-ahead record a reward must reach before it is acknowledged
	// (disk acknowledgement).
	wal *wal
	// pending counts acknowledged rewards not yet written to a report; at maxPending rewards are
	// refused (503) until writes catch up.
	pending    atomic.Int64
	maxPending int64

	// writerHeader is this process's writer id, sent as WriterHeader on every answer.
	writerHeader []string

	buffers        sync.Pool
	metricsHandler http.Handler
}

func newAPI(reg *registry, m *metrics, ttl time.Duration, maxBody int64, maxPending int64, forwardTimeout time.Duration, synced func() bool) *api {
	issuer := rand.Uint64()
	a := &api{
		reg:            reg,
		sampler:        bandit.NewSampler(rand.Uint64()),
		replay:         newReplayCache(ttl),
		issuer:         issuer,
		lineage:        []uint64{issuer},
		forwarder:      newForwarder(forwardTimeout),
		forwardTimeout: forwardTimeout,
		metrics:        m,
		ttl:            ttl,
		maxBody:        maxBody,
		now:            time.Now,
		synced:         synced,
		maxPending:     maxPending,
		metricsHandler: promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}),
	}
	a.buffers.New = func() any { return &buffers{out: make([]byte, 0, 1024), scratch: make([]byte, 0, 2*maxRawToken)} }
	a.writerHeader = []string{reg.writer}
	a.accepting.Store(true)
	return a
}

var (
	jsonContentType = []string{"application/json"}
	acceptedBody    = []byte(`{"accepted":true}` + "\n")
	okBody          = []byte(`{"status":"ok"}` + "\n")
)

// ServeHTTP routes a request. It never panics on any request.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathDraw:
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			a.fail(w, http.StatusMethodNotAllowed, ReasonMethod, "use GET or POST")
			return
		}
		a.draw(w, r)
	case PathReward:
		if r.Method != http.MethodPost {
			a.fail(w, http.StatusMethodNotAllowed, ReasonMethod, "use POST")
			return
		}
		a.reward(w, r)
	case PathHealthz:
		a.write(w, http.StatusOK, okBody)
	case PathReadyz:
		switch {
		case !a.accepting.Load():
			a.fail(w, http.StatusServiceUnavailable, ReasonShuttingDown, "the selector is shutting down")
		case !a.synced():
			a.fail(w, http.StatusServiceUnavailable, ReasonNotReady, "the PromptArm cache has not synced yet")
		case !a.reportsLoaded():
			a.fail(w, http.StatusServiceUnavailable, ReasonNotReady, "the counter reports are not loaded yet")
		default:
			a.write(w, http.StatusOK, okBody)
		}
	case PathMetrics:
		a.metricsHandler.ServeHTTP(w, r)
	default:
		a.fail(w, http.StatusNotFound, ReasonNotFound, "no such path")
	}
}

// draw answers {portfolio, arm, prompt, decision} for one Thompson draw.
func (a *api) draw(w http.ResponseWriter, r *http.Request) {
	if !a.synced() {
		a.fail(w, http.StatusServiceUnavailable, ReasonNotReady, "the PromptArm cache has not synced yet")
		return
	}
	name, ok := queryValue(r.URL.RawQuery, "portfolio")
	if !ok {
		a.fail(w, http.StatusBadRequest, ReasonMalformed, "the query string is malformed")
		return
	}
	if r.Method == http.MethodPost {
		var req struct {
			Portfolio string `json:"portfolio"`
		}
		if status, reason, msg := a.readJSON(w, r, &req); status != 0 {
			a.fail(w, status, reason, msg)
			return
		}
		name = req.Portfolio
	}
	if name == "" {
		a.fail(w, http.StatusBadRequest, ReasonMalformed, "portfolio is required")
		return
	}
	p := a.reg.portfolio(name)
	if p == nil {
		a.fail(w, http.StatusNotFound, ReasonUnknownPortfolio, "no arms of this portfolio are watched")
		return
	}
	key := p.keys.signer()
	if key == nil {
		a.fail(w, http.StatusServiceUnavailable, ReasonKeyUnavailable, "the portfolio's decision key is not loaded yet")
		return
	}
	arms := *p.active.Load()
	if len(arms) == 0 {
		a.fail(w, http.StatusServiceUnavailable, ReasonNoActiveArms, "the portfolio has no Active arm")
		return
	}
	var stack [32]bandit.Posterior
	posts := stack[:0]
	if len(arms) > len(stack) {
		posts = make([]bandit.Posterior, 0, len(arms))
	}
	for _, arm := range arms {
		posts = append(posts, arm.posterior())
	}
	i := a.sampler.Draw(posts)
	if i < 0 {
		a.fail(w, http.StatusServiceUnavailable, ReasonNoActiveArms, "no arm has a valid posterior")
		return
	}
	arm := arms[i]
	buf := a.buffers.Get().(*buffers)
	b := buf.out[:0]
	b = append(b, '{')
	b = append(b, arm.entry...)
	b = append(b, `,"decision":"`...)
	b = appendToken(b, &buf.scratch, key, Decision{Portfolio: p.name, Arm: arm.name, IssuedAt: a.now(), Issuer: a.issuer, Seq: a.seq.Add(1), Home: a.home})
	b = append(b, "\"}\n"...)
	a.write(w, http.StatusOK, b)
	buf.out = b
	a.buffers.Put(buf)
	p.draws.Inc()
}

// buffers are the per-request scratch space, pooled. out holds a request body or an answer,
// scratch a token being signed, and token a token being verified.
type buffers struct {
	out, scratch []byte
	token        [maxRawToken]byte
}

// queryValue returns the value of the first key parameter of a raw query; ok is false when
// the query cannot be decoded. It allocates only for escaped values.
func queryValue(raw, key string) (value string, ok bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			u, err := url.QueryUnescape(v)
			return u, err == nil
		}
		return v, true
	}
	return "", true
}

// rewardRequest is the body of a reward, as encoding/json decodes it.
type rewardRequest struct {
	Decision string `json:"decision"`
	Success  *bool  `json:"success"`
}

// Messages of 400 answers about a body.
const (
	msgNotExpectedJSON = "the body is not the expected JSON object"
	msgRewardRequired  = "decision and success are required"
)

// reward records the outcome of a decision and answers 202 once it is in the counts that the
// flusher writes.
func (a *api) reward(w http.ResponseWriter, r *http.Request) {
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	if !a.accepting.Load() {
		a.fail(w, http.StatusServiceUnavailable, ReasonShuttingDown, "the selector is shutting down; send the reward to another selector or retry")
		return
	}
	if !a.synced() {
		a.fail(w, http.StatusServiceUnavailable, ReasonNotReady, "the PromptArm cache has not synced yet")
		return
	}
	// The body and the decoded token live in bufs until the reward is recorded.
	bufs := a.buffers.Get().(*buffers)
	defer a.buffers.Put(bufs)
	if status, reason, msg := a.readBody(w, r, bufs); status != 0 {
		a.fail(w, status, reason, msg)
		return
	}
	decision, success, problem := decodeReward(bufs.out)
	if problem != "" {
		a.fail(w, http.StatusBadRequest, ReasonMalformed, problem)
		return
	}
	tok, err := parseToken(&bufs.token, decision)
	if err != nil {
		a.fail(w, http.StatusBadRequest, ReasonMalformed, "decision is not a decision token")
		return
	}
	p := a.reg.portfolio(string(tok.portfolio))
	if p == nil {
		a.fail(w, http.StatusNotFound, ReasonUnknownPortfolio, "no arms of this portfolio are watched")
		return
	}
	if !p.keys.Ready() {
		a.fail(w, http.StatusServiceUnavailable, ReasonKeyUnavailable, "the portfolio's decision key is not loaded yet")
		return
	}
	now := a.now()
	if err := p.keys.verify(&tok, now); err != nil {
		a.fail(w, http.StatusUnauthorized, ReasonBadSignature, "the decision's signature does not match a key of the portfolio")
		return
	}
	issuedAt := tok.issuedAt()
	expires := issuedAt.Add(a.ttl)
	if !now.Before(expires) {
		a.fail(w, http.StatusGone, ReasonExpired, "the decision expired")
		return
	}
	if issuedAt.After(now.Add(maxClockSkew)) {
		a.fail(w, http.StatusBadRequest, ReasonMalformed, "the decision was issued in the future")
		return
	}
	switch a.routeOf(&tok, len(r.Header[ForwardedHeader]) > 0) {
	case routeForward:
		a.forward(w, r, bufs.out, string(tok.home))
		return
	case routeIssuerGone:
		a.fail(w, http.StatusGone, ReasonIssuerGone, "the selector process that issued this decision is gone with its record of rewarded decisions; the reward cannot be counted exactly once")
		return
	case routeMisdirected:
		a.fail(w, http.StatusMisdirectedRequest, ReasonMisdirected, "this forwarded reward reached a selector that is not its decision's home")
		return
	}
	if want := r.Header[WriterHeader]; len(tok.home) == 0 && len(want) > 0 && want[0] != a.writerHeader[0] {
		// Without a home, only the process that may have counted the first attempt can tell a
		// duplicate.
		a.fail(w, http.StatusPreconditionFailed, ReasonWriterChanged, "this retry reached another selector process than the first attempt; its outcome cannot be checked here")
		return
	}
	arm := (*p.all.Load())[string(tok.arm)]
	if arm == nil || arm.deleted.Load() {
		a.fail(w, http.StatusNotFound, ReasonUnknownArm, "the decision's arm is not watched")
		return
	}
	if !p.report.ready.Load() {
		a.fail(w, http.StatusServiceUnavailable, ReasonNotReady, "this selector's counter report of the portfolio is not loaded yet")
		return
	}
	if p.report.lost.Load() {
		a.fail(w, http.StatusServiceUnavailable, ReasonReportLost, "this selector's counter report of the portfolio was deleted; send the reward to another selector")
		return
	}
	if a.pending.Load() >= a.maxPending {
		a.fail(w, http.StatusServiceUnavailable, ReasonBacklogFull, "too many acknowledged rewards are not yet written to the API server; retry later or at another selector")
		return
	}
	if !a.replay.firstUse(tok.issuer, tok.seq, expires, now) {
		a.fail(w, http.StatusConflict, ReasonDuplicate, "this decision was already rewarded")
		return
	}
	if a.wal != nil {
		batch, err := a.wal.record(p.name, arm.name, success, tok.issuer, tok.seq, expires)
		if err == nil {
			err = batch.wait()
		}
		if err != nil {
			// The decision stays recorded as used: whether its record reached the disk is
			// unknown, and counting it after a retry could count it twice.
			a.fail(w, http.StatusServiceUnavailable, ReasonStateUnavailable, "the selector's state record cannot be written; the reward was not acknowledged")
			return
		}
	}
	a.pending.Add(1)
	if success {
		arm.ackedS.Add(1)
		p.successes.Inc()
	} else {
		arm.ackedF.Add(1)
		p.fails.Inc()
	}
	a.write(w, http.StatusAccepted, acceptedBody)
}

// decodeReward decodes a reward body with parseRewardBody when it can and with encoding/json
// otherwise, so that a body means what encoding/json makes of it. decision points into body, or
// is a copy. problem is the message of a 400 answer, or empty.
func decodeReward(body []byte) (decision []byte, success bool, problem string) {
	decision, success, ok := parseRewardBody(body)
	if !ok {
		var req rewardRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, false, msgNotExpectedJSON
		}
		if req.Success == nil {
			return nil, false, msgRewardRequired
		}
		decision, success = []byte(req.Decision), *req.Success
	}
	if len(decision) == 0 {
		return nil, false, msgRewardRequired
	}
	return decision, success, ""
}

// parseRewardBody decodes the common shape of a reward body, {"decision":"<token>","success":true}
// or false, without allocating: JSON whitespace anywhere, both keys exactly once and spelled so,
// in either order, a decision of printable ASCII without escapes, and a true or false literal.
// decision points into body. ok is false for every other body, valid JSON or not; encoding/json
// decodes every body this accepts to the same values.
func parseRewardBody(body []byte) (decision []byte, success, ok bool) {
	c := jsonCursor{b: body}
	if !c.skip('{') {
		return nil, false, false
	}
	var haveDecision, haveSuccess bool
	for i := range 2 {
		if i > 0 && !c.skip(',') {
			return nil, false, false
		}
		c.skipSpace()
		key, isString := c.plainString()
		if !isString || !c.skip(':') {
			return nil, false, false
		}
		c.skipSpace()
		var valid bool
		switch {
		case string(key) == "decision" && !haveDecision:
			haveDecision = true
			decision, valid = c.plainString()
		case string(key) == "success" && !haveSuccess:
			haveSuccess = true
			success, valid = c.boolean()
		default:
			return nil, false, false
		}
		if !valid {
			return nil, false, false
		}
	}
	if !c.skip('}') {
		return nil, false, false
	}
	if c.skipSpace(); c.i != len(c.b) {
		return nil, false, false
	}
	return decision, success, true
}

// jsonCursor reads the restricted JSON that parseRewardBody accepts. Its methods never read
// past the end of b.
type jsonCursor struct {
	b []byte
	i int // the next byte to read
}

// skipSpace moves past JSON whitespace.
func (c *jsonCursor) skipSpace() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// skip moves past whitespace and then the byte want, and reports whether want was there.
func (c *jsonCursor) skip(want byte) bool {
	c.skipSpace()
	if c.i < len(c.b) && c.b[c.i] == want {
		c.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes and returns its contents, which
// point into b. ok is false for any other value, including strings that encoding/json would
// accept.
func (c *jsonCursor) plainString() (s []byte, ok bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false
	}
	for j := c.i + 1; j < len(c.b); j++ {
		switch ch := c.b[j]; {
		case ch == '"':
			s, c.i = c.b[c.i+1:j], j+1
			return s, true
		case ch < ' ' || ch > '~' || ch == '\\':
			return nil, false
		}
	}
	return nil, false
}

// boolean reads the literal true or false.
func (c *jsonCursor) boolean() (v, ok bool) {
	rest := c.b[c.i:]
	switch {
	case bytes.HasPrefix(rest, trueLiteral):
		c.i += len(trueLiteral)
		return true, true
	case bytes.HasPrefix(rest, falseLiteral):
		c.i += len(falseLiteral)
		return false, true
	}
	return false, false
}

var (
	trueLiteral  = []byte("true")
	falseLiteral = []byte("false")
)

// readJSON decodes a JSON body of at most maxBody bytes into v. It returns a zero status on
// success, and the status, reason and message of the error otherwise.
func (a *api) readJSON(w http.ResponseWriter, r *http.Request, v any) (int, string, string) {
	bufs := a.buffers.Get().(*buffers)
	defer a.buffers.Put(bufs)
	if status, reason, msg := a.readBody(w, r, bufs); status != 0 {
		return status, reason, msg
	}
	if err := json.Unmarshal(bufs.out, v); err != nil {
		return http.StatusBadRequest, ReasonMalformed, msgNotExpectedJSON
	}
	return 0, "", ""
}

// readBody reads a body of at most maxBody bytes into bufs.out, which keeps its capacity from one
// request to the next. It returns a zero status on success, and the status, reason and message of
// the error otherwise.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, bufs *buffers) (int, string, string) {
	if r.ContentLength > a.maxBody {
		return http.StatusRequestEntityTooLarge, ReasonTooLarge, "the body is too large"
	}
	b := bufs.out[:0]
	var err error
	if r.Body != nil {
		// http.MaxBytesReader also makes the server close the connection after a body too large.
		body := http.MaxBytesReader(w, r.Body, a.maxBody)
		for err == nil {
			if len(b) == cap(b) {
				b = slices.Grow(b, bytes.MinRead)
			}
			var n int
			n, err = body.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
		}
	}
	bufs.out = b
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, ReasonTooLarge, "the body is too large"
	case err != nil && !errors.Is(err, io.EOF):
		return http.StatusBadRequest, ReasonMalformed, "the body could not be read"
	}
	return 0, "", ""
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

func (a *api) fail(w http.ResponseWriter, status int, reason, msg string) {
	if c := a.metrics.rejections[reason]; c != nil {
		c.Inc()
	}
	b, _ := json.Marshal(errorBody{Error: msg, Reason: reason})
	a.write(w, status, append(b, '\n'))
}

func (a *api) write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h[WriterHeader] = a.writerHeader
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// reportsLoaded reports whether the counter report of every served portfolio was loaded (or
// found lost, which no waiting mends).
func (a *api) reportsLoaded() bool {
	for _, p := range *a.reg.portfolios.Load() {
		if !p.report.ready.Load() && !p.report.lost.Load() {
			return false
		}
	}
	return true
}

// settle raises a flushed count v to n and takes what it rose by off the pending rewards.
func (a *api) settle(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if old >= n {
			return
		}
		if v.CompareAndSwap(old, n) {
			a.pending.Add(old - n)
			return
		}
	}
}

// stopAccepting stops accepting rewards and waits until the rewards being recorded are recorded,
// or deadline closes.
func (a *api) stopAccepting(deadline <-chan struct{}) {
	a.accepting.Store(false)
	for a.inflight.Load() > 0 {
		select {
		case <-deadline:
			return
		case <-time.After(time.Millisecond):
		}
	}
}
