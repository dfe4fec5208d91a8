package selector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A decision's reward is counted by one selector only: the decision's home, the selector process
// that issued it (or a later process that shares its state directory and so its record of
// rewarded decisions). The token names the home by its advertised host:port. A selector that
// receives the reward of a decision whose home is another selector forwards the request there and
// relays the answer, so that a retry sent through a Service to any replica meets the one record
// that knows whether the decision was rewarded: it is answered 409, never counted twice. When the
// home cannot be reached, the reward is refused with 503 and can be sent again; when the request
// reached it but its answer did not come back, the answer is 504 (perhaps counted: a retry
// answers 409 if it was); when the home answers but no longer knows the issuer (its pod was
// replaced), the reward is refused with 410.

// ForwardedHeader is set on a reward that a selector forwards to the decision's home; it names
// the forwarding selector's writer. A forwarded reward is never forwarded again.
const ForwardedHeader = "Promptfolio-Forwarded-By"

// maxForwardAnswer bounds the body of a home's answer that is relayed.
const maxForwardAnswer = 4096

// route says where a verified reward is counted.
type route int

const (
	routeHere        route = iota // this process counts it
	routeForward                  // the decision's home is another selector
	routeIssuerGone               // this is the home, but the issuer's record is gone
	routeMisdirected              // forwarded here, but this is not its home
)

// routeOf returns where the reward of tok is counted. forwarded says whether the request was
// forwarded by another selector.
func (a *api) routeOf(tok *parsedToken, forwarded bool) route {
	switch {
	case len(tok.home) == 0:
		// A decision without a home is counted where its reward arrives: exactly once per
		// selector, not across selectors.
		return routeHere
	case string(tok.home) != a.home:
		if forwarded {
			return routeMisdirected
		}
		return routeForward
	case !slices.Contains(a.lineage, tok.issuer):
		return routeIssuerGone
	}
	return routeHere
}

// forward sends the reward body to the decision's home and relays its answer. A request that
// did not reach the home because the home had just closed the pooled connection as idle (it is
// stopping, or its idle timeout struck) is sent once more on a new connection, and that answer
// is relayed. A request that may have reached the home but got no answer (the home was killed
// while it answered) is also sent once more: a 202 then says the first attempt was not counted;
// any other answer leaves the outcome unknown (a 409 may be the first attempt's own count, a 503
// may follow it), and the answer is 504.
func (a *api) forward(w http.ResponseWriter, r *http.Request, body []byte, home string) {
	ctx, cancel := context.WithTimeout(r.Context(), a.forwardTimeout)
	defer cancel()
	answer, status, writer, err := a.sendHome(ctx, body, home)
	if err != nil && ctx.Err() == nil {
		sent := !notSent(err)
		answer, status, writer, err = a.sendHome(ctx, body, home)
		if sent && (err != nil || status != http.StatusAccepted) {
			a.metrics.forwards.WithLabelValues("unanswered").Inc()
			a.failUnanswered(w)
			return
		}
	}
	switch {
	case err != nil && notSent(err):
		a.metrics.forwards.WithLabelValues("unreachable").Inc()
		a.fail(w, http.StatusServiceUnavailable, ReasonHomeUnavailable,
			"the selector that issued this decision cannot be reached, and only it can count the reward; it was not counted: send it again later")
		return
	case err != nil:
		a.metrics.forwards.WithLabelValues("unanswered").Inc()
		a.failUnanswered(w)
		return
	}
	a.metrics.forwards.WithLabelValues(strconv.Itoa(status)).Inc()
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h[WriterHeader] = []string{writer}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// failUnanswered answers that the home may have counted the reward.
func (a *api) failUnanswered(w http.ResponseWriter) {
	a.fail(w, http.StatusGatewayTimeout, ReasonHomeUnanswered,
		"the selector that issued this decision did not answer; the reward may have been counted: send it again, and a retry answers 409 if it was")
}

// notSent reports whether err says the request never reached the home: the connection could not
// be made, or the pooled connection had been closed by the home before the request was written
// on it (net/http reports that case, which it does not retry for a POST, only by its message).
func notSent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return strings.Contains(err.Error(), "server closed idle connection")
}

// sendHome posts body to home's reward path and returns the answer's body, status and writer.
func (a *api) sendHome(ctx context.Context, body []byte, home string) ([]byte, int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+home+PathReward, bytes.NewReader(body))
	if err != nil {
		return nil, 0, "", err
	}
	req.Header["Content-Type"] = jsonContentType
	req.Header[ForwardedHeader] = a.writerHeader
	resp, err := a.forwarder.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer))
	if err != nil {
		return nil, 0, "", err
	}
	return answer, resp.StatusCode, resp.Header.Get(WriterHeader), nil
}

// newForwarder returns the HTTP client that forwards rewards to their homes, with idle
// connections kept per home and no redirects followed. The whole forward is bounded by the
// request's context (api.forward); a dial gives up after at most dialTimeout.
func newForwarder(dialTimeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: min(dialTimeout, 2*time.Second)}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// advertisedAddress returns the host:port that other selectors reach this one at, for the home
// of its decisions: explicit when set ("none" for no home), else the listen address when it names
// an address that is not a loopback one, else podIP with the listen port. A selector that listens
// on loopback only cannot be reached by others and advertises none, unless it is told an address.
func advertisedAddress(explicit, podIP string, listened net.Addr) (string, error) {
	switch explicit {
	case "none":
		return "", nil
	case "":
	default:
		if _, _, err := net.SplitHostPort(explicit); err != nil || len(explicit) > maxHomeLen {
			return "", fmt.Errorf("advertise address %q is not a host:port of at most %d characters", explicit, maxHomeLen)
		}
		return explicit, nil
	}
	tcp, ok := listened.(*net.TCPAddr)
	if !ok {
		return "", nil
	}
	port := strconv.Itoa(tcp.Port)
	switch {
	case tcp.IP.IsLoopback() && podIP == "":
		// Processes on one host (tests, benchmarks, the local demo) reach each other here.
		return listened.String(), nil
	case tcp.IP.IsLoopback():
		return "", nil
	case !tcp.IP.IsUnspecified():
		return listened.String(), nil
	case podIP != "":
		return net.JoinHostPort(podIP, port), nil
	}
	return "", nil
}

// issuersFile lists, in a state directory, the issuers of the processes that used it and when
// each started: "<issuer, 16 hex digits> <start, Unix milliseconds>" a line, oldest first.
const issuersFile = "issuers"

// issuerRecord is one line of the issuers file.
type issuerRecord struct {
	issuer  uint64
	startMs int64
}

// openLineage reads the issuers file of dir, adds issuer as started now, drops the issuers whose
// decisions have all expired (those whose successor started more than ttl plus the clock skew ago)
// and writes the file back before any decision of issuer is served. It returns the issuers whose
// decisions this process counts.
func openLineage(dir string, issuer uint64, ttl time.Duration, now time.Time) ([]uint64, error) {
	path := filepath.Join(dir, issuersFile)
	var recs []issuerRecord
	switch f, err := os.Open(path); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading the state directory's issuers: %w", err)
	default:
		recs, err = parseIssuers(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	recs = liveIssuers(append(recs, issuerRecord{issuer: issuer, startMs: now.UnixMilli()}), ttl, now)
	var b strings.Builder
	ids := make([]uint64, len(recs))
	for i, r := range recs {
		fmt.Fprintf(&b, "%016x %d\n", r.issuer, r.startMs)
		ids[i] = r.issuer
	}
	if err := writeFileSynced(path, []byte(b.String())); err != nil {
		return nil, fmt.Errorf("writing the state directory's issuers: %w", err)
	}
	return ids, nil
}

// parseIssuers reads the lines of an issuers file.
func parseIssuers(r io.Reader) ([]issuerRecord, error) {
	var recs []issuerRecord
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		id, start, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		issuer, err1 := strconv.ParseUint(id, 16, 64)
		ms, err2 := strconv.ParseInt(start, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d is not \"<issuer> <start>\"", line)
		}
		recs = append(recs, issuerRecord{issuer: issuer, startMs: ms})
	}
	return recs, sc.Err()
}

// liveIssuers keeps the issuers that may have decisions that did not expire at now: every
// decision of an issuer was issued before its successor started.
func liveIssuers(recs []issuerRecord, ttl time.Duration, now time.Time) []issuerRecord {
	var live []issuerRecord
	for i, r := range recs {
		if i+1 < len(recs) && time.UnixMilli(recs[i+1].startMs).Add(ttl+maxClockSkew).Before(now) {
			continue
		}
		live = append(live, r)
	}
	return live
}

// writeFileSynced replaces path with data durably: a temporary file, synced, renamed over path,
// and the directory synced.
func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
