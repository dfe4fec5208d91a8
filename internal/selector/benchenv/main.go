// Command benchenv supports hack/bench-selector.sh:
//
//	benchenv env -dir D          start a control plane with portfolios "bench" (10 arms) and
//	                             "wide" (100 arms), a key file and a write-counting proxy; write
//	                             D/kubeconfig, D/key, D/namespace and serve D/writes counts on
//	                             -addr until SIGTERM
//	benchenv baseline -addr A    a minimal net/http server answering a constant JSON body
//	                             (-read-body: that reads the request body first)
//	benchenv tokens -url U -n N  draw N decisions and print one reward body per line
//	benchenv load -url U -rate R -for D
//	                             send R rewards/s (each after its draw) for D; print what was sent
//	benchenv sync -dir D -writers W -n N [-dsync]
//	                             time N record-sized writes each followed by an fdatasync (or
//	                             written with O_DSYNC), from W goroutines at once, in a
//	                             preallocated file in D, as the state record writes; print the
//	                             rate and the latency quantiles
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/selector/faultproxy"
	"github.com/promptfolio/promptfolio/internal/testenv"
	"github.com/promptfolio/promptfolio/pkg/client"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchenv env|baseline|tokens|load|sync [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "working folder")
	addr := fs.String("addr", "127.0.0.1:18090", "listen address")
	url := fs.String("url", "http://127.0.0.1:18088", "selector URL")
	portfolio := fs.String("portfolio", "bench", "portfolio")
	n := fs.Int("n", 10000, "decisions")
	rate := fs.Int("rate", 10000, "rewards per second")
	dur := fs.Duration("for", 10*time.Second, "load duration")
	readBody := fs.Bool("read-body", false, "baseline: read the request body before answering")
	writers := fs.Int("writers", 1, "sync: goroutines writing and syncing at once")
	dsync := fs.Bool("dsync", false, "sync: open the file with O_DSYNC instead of calling fdatasync")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "env":
		err = runEnv(*dir, *addr)
	case "baseline":
		body := []byte(`{"portfolio":"bench","arm":"bench-arm0","prompt":"constant","decision":"AQAAAZMAAAAAAAAAAAAAAAEFYmVuY2gKYmVuY2gtYXJtMAAAAAAAAAAAAAAAAAAAAAA"}` + "\n")
		err = http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *readBody {
				_, _ = io.Copy(io.Discard, r.Body)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
	case "tokens":
		err = runTokens(*url, *portfolio, *n)
	case "load":
		err = runLoad(*url, *portfolio, *rate, *dur)
	case "sync":
		err = runSync(*dir, *writers, *n, *dsync)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchenv:", err)
		os.Exit(1)
	}
}

func runEnv(dir, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cp, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	ns, err := cp.CreateNamespace(ctx, "bench")
	if err != nil {
		return err
	}
	for name, k := range map[string]int{"bench": 10, "wide": 100} {
		for i := range k {
			arm := &v1alpha1.PromptArm{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-arm%d", name, i), Namespace: ns, Labels: map[string]string{"promptfolio.dev/portfolio": name}},
				Spec:       v1alpha1.PromptArmSpec{Portfolio: name, Prompt: fmt.Sprintf("You are a helpful assistant, variant %d. Answer {{question}} briefly.", i)},
			}
			if err := cp.Client.Create(ctx, arm); err != nil {
				return err
			}
		}
	}
	proxy, err := faultproxy.Start(cp.Config, faultproxy.Options{})
	if err != nil {
		return err
	}
	defer proxy.Close()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: proxy.URL}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench", Namespace: ns}
	kc.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*kc, filepath.Join(dir, "kubeconfig")); err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "namespace"), []byte(ns), 0o600); err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", proxy.Writes(http.MethodPatch, "promptcounterreports"))
	})}
	go func() { _ = srv.ListenAndServe() }()
	fmt.Println("ready")
	<-ctx.Done()
	_ = srv.Close()
	return nil
}

func runTokens(url, portfolio string, n int) error {
	c := client.New(url)
	ctx := context.Background()
	var (
		mu   sync.Mutex
		enc  = json.NewEncoder(os.Stdout)
		next atomic.Int64
		errs = make(chan error, 8)
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				d, err := c.Draw(ctx, portfolio)
				if err == nil {
					mu.Lock()
					err = enc.Encode(map[string]any{"decision": d.Decision, "success": i%3 == 0})
					mu.Unlock()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func runLoad(url, portfolio string, rate int, dur time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	c := client.New(url, client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}))
	var sent, failed atomic.Int64
	const workers = 64
	tick := time.Second / time.Duration(max(1, rate/workers))
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(tick)
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				d, err := c.Draw(ctx, portfolio)
				if err == nil {
					err = c.Reward(ctx, d.Decision, (i+w)%3 == 0)
				}
				switch {
				case err != nil && ctx.Err() != nil:
					return // the run ended while this pair was in flight
				case err != nil:
					failed.Add(1)
				default:
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("rewards %d failed %d seconds %.1f rate %.0f\n", sent.Load(), failed.Load(), secs, float64(sent.Load())/secs)
	return nil
}

// runSync times writes of 1,000 bytes (a batch of about 26 rewards), each followed by an
// fdatasync or written with O_DSYNC, from writers goroutines at once at distinct offsets of a
// file written with zeros beforehand, so that no write changes the file's size.
func runSync(dir string, writers, n int, dsync bool) error {
	const size = 1000
	f, err := os.CreateTemp(dir, "sync-*.dat")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < int64(writers*n*size); off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	flags := os.O_WRONLY
	if dsync {
		flags |= syscall.O_DSYNC
	}
	g, err := os.OpenFile(f.Name(), flags, 0)
	if err != nil {
		return err
	}
	defer g.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, n)
			for range n {
				t := time.Now()
				if _, err := g.WriteAt(buf, (next.Add(1)-1)*size); err != nil {
					errs <- err
					return
				}
				if !dsync {
					if err := syscall.Fdatasync(int(g.Fd())); err != nil {
						errs <- err
						return
					}
				}
				own = append(own, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	elapsed := time.Since(start)
	if len(lat) == 0 {
		return errors.New("sync: nothing was written (-n and -writers must be at least 1)")
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
	mode := "write+fdatasync"
	if dsync {
		mode = "O_DSYNC write"
	}
	fmt.Printf("%s, %d at once: %.0f/s; latency p50 %v p90 %v p99 %v max %v\n",
		mode, writers, float64(len(lat))/elapsed.Seconds(), q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Microsecond))
	return nil
}
