// Package faultproxy is an HTTP reverse proxy to a kube-apiserver that injects faults into the
// requests passing through it: delays, dropped connections, 409 and 500 answers, requests held
// until the client gave up and then forwarded anyway, and responses lost after the server applied
// the write. Tests of the selector put it between selectors and the API server; benchmarks use it
// without faults to count writes.
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// Fault is one kind of injected fault.
type Fault int

// The faults, in the order Rates lists their probabilities.
const (
	// Delay forwards the request after a random pause of up to MaxDelay.
	Delay Fault = iota
	// Drop closes the connection without forwarding the request.
	Drop
	// Conflict answers 409 without forwarding.
	Conflict
	// ServerError answers 500 without forwarding.
	ServerError
	// Hold keeps the request for HoldFor (longer than the client waits), then forwards it anyway
	// and closes the connection: the write lands after the client gave up.
	Hold
	// LoseResponse forwards the request and closes the connection instead of answering: the
	// write landed, the client does not know.
	LoseResponse
	numFaults
)

var faultNames = [numFaults]string{"delay", "drop", "conflict", "server_error", "hold", "lose_response"}

func (f Fault) String() string {
	if f >= 0 && f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Rates are the probabilities of each fault for one eligible request.
type Rates [numFaults]float64

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's address: point a rest.Config's Host at it without credentials.
	URL string

	srv      *httptest.Server
	upstream *httputil.ReverseProxy
	holdFor  time.Duration
	maxDelay time.Duration
	// eligible selects the requests that may fault; watches are never faulted.
	eligible func(r *http.Request) bool

	mu      sync.Mutex
	rates   Rates
	rng     *rand.Rand
	late    sync.WaitGroup
	counts  [numFaults]atomic.Int64
	writes  sync.Map // "METHOD resource/subresource" -> *atomic.Int64
	stopped atomic.Bool
}

// Options configure a Proxy.
type Options struct {
	// Rates of each fault; zero rates forward everything.
	Rates Rates
	// MaxDelay of the Delay fault. Default 200ms.
	MaxDelay time.Duration
	// HoldFor of the Hold fault. Default 3s.
	HoldFor time.Duration
	// Seed of the fault choices.
	Seed uint64
	// Eligible selects the requests that may fault. Default: every request but watches.
	Eligible func(r *http.Request) bool
}

// Start starts a proxy to the API server of cfg; the proxy authenticates as cfg.
func Start(cfg *rest.Config, opts Options) (*Proxy, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	if target.Scheme == "" {
		target, err = url.Parse("https://" + cfg.Host)
		if err != nil {
			return nil, err
		}
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		status(w, http.StatusBadGateway, "ServiceUnavailable", "proxy: upstream failed")
	}
	p := &Proxy{
		upstream: rp,
		holdFor:  opts.HoldFor,
		maxDelay: opts.MaxDelay,
		eligible: opts.Eligible,
		rates:    opts.Rates,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	if p.holdFor <= 0 {
		p.holdFor = 3 * time.Second
	}
	if p.maxDelay <= 0 {
		p.maxDelay = 200 * time.Millisecond
	}
	if p.eligible == nil {
		p.eligible = func(r *http.Request) bool { return r.URL.Query().Get("watch") != "true" }
	}
	p.srv = httptest.NewServer(p)
	p.URL = p.srv.URL
	return p, nil
}

// Config returns a rest.Config that talks to the API server through the proxy.
func (p *Proxy) Config(timeout time.Duration) *rest.Config {
	return &rest.Config{Host: p.URL, Timeout: timeout, QPS: 1000, Burst: 2000}
}

// SetRates changes the fault rates.
func (p *Proxy) SetRates(r Rates) {
	p.mu.Lock()
	p.rates = r
	p.mu.Unlock()
}

// Count returns how often fault f was injected.
func (p *Proxy) Count(f Fault) int64 { return p.counts[f].Load() }

// Writes returns the forwarded requests with the given method whose path ends in suffix.
func (p *Proxy) Writes(method, suffix string) int64 {
	var n int64
	p.writes.Range(func(k, v any) bool {
		key := k.(string)
		if strings.HasPrefix(key, method+" ") && strings.HasSuffix(key, suffix) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// Close waits for held requests to be forwarded and stops the proxy.
func (p *Proxy) Close() {
	p.stopped.Store(true)
	p.late.Wait()
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// WaitLate waits until every held request has been forwarded.
func (p *Proxy) WaitLate() { p.late.Wait() }

// choose picks the fault for one request, or -1 for none.
func (p *Proxy) choose() (Fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	x := p.rng.Float64()
	for f, rate := range p.rates {
		if x < rate {
			return Fault(f), time.Duration(p.rng.Int64N(int64(p.maxDelay)))
		}
		x -= rate
	}
	return -1, 0
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault := Fault(-1)
	var delay time.Duration
	if p.eligible(r) && !p.stopped.Load() {
		fault, delay = p.choose()
	}
	if fault >= 0 {
		p.counts[fault].Add(1)
	}
	switch fault {
	case Delay:
		time.Sleep(delay)
	case Drop:
		closeConn(w)
		return
	case Conflict:
		status(w, http.StatusConflict, "Conflict", "injected conflict")
		return
	case ServerError:
		status(w, http.StatusInternalServerError, "InternalError", "injected server error")
		return
	case Hold:
		// Read the body now: the client closes the connection when it gives up.
		rec := httptest.NewRecorder()
		body := bufferBody(r)
		p.late.Add(1)
		go func() {
			defer p.late.Done()
			time.Sleep(p.holdFor)
			p.forward(rec, body.WithContext(context.Background()))
		}()
		closeAfter(w, r.Context(), p.holdFor)
		return
	case LoseResponse:
		p.forward(httptest.NewRecorder(), r)
		closeConn(w)
		return
	}
	p.forward(w, r)
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		key := r.Method + " " + resourcePath(r.URL.Path)
		v, _ := p.writes.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	p.upstream.ServeHTTP(w, r)
}

// resourcePath drops object names from an API path: /apis/g/v/namespaces/ns/res/name/status
// becomes res/status.
func resourcePath(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range parts {
		if s == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	return path
}

// bufferBody returns a copy of r whose body is read into memory.
func bufferBody(r *http.Request) *http.Request {
	c := r.Clone(context.Background())
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		c.Body = io.NopCloser(bytes.NewReader(b))
		c.ContentLength = int64(len(b))
	}
	return c
}

// closeAfter keeps the client waiting for d or until it gives up, then drops the connection.
func closeAfter(w http.ResponseWriter, ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	closeConn(w)
}

func closeConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}
