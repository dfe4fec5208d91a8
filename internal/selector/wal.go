package selector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The write-ahead record (wal) makes an acknowledged reward survive the selector's SIGKILL or
// OOMKill: the reward handler answers 202 only once the reward's record is on disk. Records are
// group-committed: every handler appends its record to a shared buffer and waits, and one
// goroutine writes the buffer and fsyncs it, so one fsync covers every reward that arrived while
// the previous one ran, and throughput grows with concurrency instead of being bound by the
// disk's sync latency.
//
// The record is a directory of segments, wal-<n>.log. A segment starts with a checkpoint (the
// cumulative counts of every arm when it was opened) and continues with one record per reward
// (arm, outcome, issuer, sequence, expiry). Replaying it gives the counts (the newest segment's
// checkpoint plus its rewards) and the decisions rewarded that have not yet expired (every
// segment's rewards), which rebuild the replay record, so that a retry of a reward the killed
// process acknowledged, or answered too late, is answered 409 and not counted again.
//
// A new segment is started when the process starts and every rotateEvery; a segment other than
// the newest is deleted once every decision in it has expired, so the directory holds about one
// decision lifetime (the token TTL) of rewards.
//
// Each record is framed as length (4 bytes) | CRC-32C of the payload (4 bytes) | payload; replay
// stops at the first frame that is short or does not match its checksum (a write that a crash cut
// off, which was never acknowledged).
type wal struct {
	dir         string
	rotateEvery time.Duration
	now         func() time.Time
	lock        *os.File

	mu      sync.Mutex
	wake    *sync.Cond
	buf     []byte
	spare   []byte
	batch   *walBatch
	keys    map[string]uint32
	counts  map[string]walCounts // cumulative, by "<portfolio>/<arm>"
	maxExp  int64                // latest expiry appended to the current segment, Unix ms
	err     error                // sticky: once a write failed, nothing more is acknowledged
	closing bool

	// Owned by the committer goroutine.
	f        *os.File
	off      int64 // where the next batch goes in f
	size     int64 // bytes of f written (zeros past off)
	seg      uint64
	opened   time.Time
	segments map[uint64]int64 // older segments and the latest expiry they hold
	done     chan struct{}
}

// walBatch is one group commit; done closes when it is on disk or failed with err.
type walBatch struct {
	done chan struct{}
	err  error
}

// walCounts are cumulative counts of one arm.
type walCounts struct{ successes, failures int64 }

// walDecision is a rewarded decision found by replay.
type walDecision struct {
	issuer, seq uint64
	expires     time.Time
}

// walReplay is what a directory held when it was opened.
type walReplay struct {
	counts    map[string]walCounts
	decisions []walDecision
	segments  int
}

const (
	walMagic     = "promptfolio-wal-1"
	recHeader    = 'H'
	recKey       = 'K'
	recCount     = 'C'
	recReward    = 'R'
	frameHeader  = 8
	maxFrameSize = 1 << 16
	// preallocate is how far a segment is written with zeros ahead of its records, so that a
	// batch overwrites blocks the file already has and its fdatasync flushes the data alone, not
	// the file's size as well. Replay stops at the first zero length.
	preallocate = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walKey is the key of an arm's counts.
func walKey(portfolio, arm string) string { return portfolio + "/" + arm }

// openWAL locks dir (one process at a time), replays its segments, starts a new segment whose
// checkpoint holds the replayed counts, and starts the committer.
func openWAL(dir string, rotateEvery time.Duration, now func() time.Time) (*wal, *walReplay, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the state directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the state directory's lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, nil, fmt.Errorf("the state directory %s is in use by another selector process: %w", dir, err)
	}
	w := &wal{
		dir: dir, rotateEvery: rotateEvery, now: now, lock: lock,
		keys: map[string]uint32{}, counts: map[string]walCounts{}, segments: map[uint64]int64{},
		batch: &walBatch{done: make(chan struct{})}, done: make(chan struct{}),
	}
	w.wake = sync.NewCond(&w.mu)
	rep, err := w.replay()
	if err != nil {
		_ = lock.Close()
		return nil, nil, err
	}
	w.counts = maps.Clone(rep.counts)
	start, prevExp := w.checkpointLocked()
	if err := w.install(start, prevExp); err != nil {
		_ = lock.Close()
		return nil, nil, err
	}
	go w.commit()
	return w, rep, nil
}

// segmentNumbers returns the numbers of the directory's segments, in order.
func (w *wal) segmentNumbers() ([]uint64, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the state directory: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "wal-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		var n uint64
		if _, err := fmt.Sscanf(name, "wal-%d.log", &n); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

func (w *wal) segmentPath(n uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("wal-%016d.log", n))
}

// replay reads every segment.
func (w *wal) replay() (*walReplay, error) {
	nums, err := w.segmentNumbers()
	if err != nil {
		return nil, err
	}
	rep := &walReplay{counts: map[string]walCounts{}, segments: len(nums)}
	nowMs := w.now().UnixMilli()
	for i, n := range nums {
		counts, decisions, maxExp, err := readSegment(w.segmentPath(n))
		if err != nil {
			return nil, err
		}
		if i == len(nums)-1 {
			rep.counts = counts
		}
		for _, d := range decisions {
			if d.expires.UnixMilli() > nowMs {
				rep.decisions = append(rep.decisions, d)
			}
		}
		w.segments[n] = maxExp
		w.seg = n
	}
	return rep, nil
}

// readSegment returns a segment's counts (checkpoint plus rewards), its rewarded decisions and
// their latest expiry. A segment without a valid header is an error: segments are created whole.
func readSegment(path string) (map[string]walCounts, []walDecision, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	keys := map[uint32]string{}
	counts := map[string]walCounts{}
	var decisions []walDecision
	var maxExp int64
	first := true
	var hdr [frameHeader]byte
	payload := make([]byte, 0, 256)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break // the end, or a frame cut off by a crash
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 || n > maxFrameSize {
			break
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			break
		}
		if first {
			if payload[0] != recHeader || string(payload[1:]) != walMagic {
				return nil, nil, 0, fmt.Errorf("%s is not a selector state segment", path)
			}
			first = false
			continue
		}
		switch p := payload[1:]; payload[0] {
		case recKey:
			if len(p) >= 4 {
				keys[binary.BigEndian.Uint32(p)] = string(p[4:])
			}
		case recCount:
			if len(p) == 20 {
				if k, ok := keys[binary.BigEndian.Uint32(p)]; ok {
					counts[k] = walCounts{int64(binary.BigEndian.Uint64(p[4:])), int64(binary.BigEndian.Uint64(p[12:]))}
				}
			}
		case recReward:
			if len(p) != 29 {
				continue
			}
			k, ok := keys[binary.BigEndian.Uint32(p)]
			if !ok {
				continue
			}
			c := counts[k]
			if p[4] == 1 {
				c.successes++
			} else {
				c.failures++
			}
			counts[k] = c
			exp := int64(binary.BigEndian.Uint64(p[21:]))
			maxExp = max(maxExp, exp)
			decisions = append(decisions, walDecision{
				issuer: binary.BigEndian.Uint64(p[5:]), seq: binary.BigEndian.Uint64(p[13:]), expires: time.UnixMilli(exp),
			})
		}
	}
	if first {
		return nil, nil, 0, fmt.Errorf("%s has no header", path)
	}
	return counts, decisions, maxExp, nil
}

// appendFrame appends one framed record to b.
func appendFrame(b []byte, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, 0, 0, 0, 0)
	for _, p := range payload {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+frameHeader:], castagnoli))
	return b
}

func appendKeyFrame(b []byte, id uint32, key string) []byte {
	var p [5]byte
	p[0] = recKey
	binary.BigEndian.PutUint32(p[1:], id)
	return appendFrame(b, p[:], []byte(key))
}

// checkpointLocked returns the header and checkpoint of a new segment: w.counts, which hold
// exactly the records appended so far. It starts a new key dictionary and a new latest expiry,
// and returns the latest expiry of the segment it ends. The caller holds w.mu.
func (w *wal) checkpointLocked() (b []byte, prevExp int64) {
	w.keys = map[string]uint32{}
	b = appendFrame(b, append([]byte{recHeader}, walMagic...))
	for _, k := range slices.Sorted(maps.Keys(w.counts)) {
		id := uint32(len(w.keys))
		w.keys[k] = id
		b = appendKeyFrame(b, id, k)
		var p [21]byte
		p[0] = recCount
		binary.BigEndian.PutUint32(p[1:], id)
		binary.BigEndian.PutUint64(p[5:], uint64(w.counts[k].successes))
		binary.BigEndian.PutUint64(p[13:], uint64(w.counts[k].failures))
		b = appendFrame(b, p[:])
	}
	prevExp, w.maxExp = w.maxExp, 0
	return b, prevExp
}

// install writes a new segment with the given start (written whole: to a temporary name,
// synced, renamed), makes it current, and deletes older segments whose decisions have all
// expired. Only the committer (or openWAL, before it starts) calls it.
func (w *wal) install(b []byte, prevExp int64) error {
	next := w.seg + 1
	tmp := w.segmentPath(next) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("creating a state segment: %w", err)
	}
	size := max(int64(preallocate), int64(len(b)))
	err = func() error {
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("writing a state segment: %w", err)
		}
		if err := zeroFill(f, int64(len(b)), size); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing a state segment: %w", err)
		}
		if err := os.Rename(tmp, w.segmentPath(next)); err != nil {
			return fmt.Errorf("renaming a state segment: %w", err)
		}
		return syncDir(w.dir)
	}()
	if err != nil {
		_ = f.Close()
		return err
	}
	if w.f != nil {
		_ = w.f.Close()
		w.segments[w.seg] = max(w.segments[w.seg], prevExp)
	}
	w.f, w.seg, w.opened = f, next, w.now()
	w.off, w.size = int64(len(b)), size
	nowMs := w.now().UnixMilli()
	for n, exp := range w.segments {
		if n != w.seg && exp < nowMs {
			if err := os.Remove(w.segmentPath(n)); err == nil || errors.Is(err, os.ErrNotExist) {
				delete(w.segments, n)
			}
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening the state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the state directory: %w", err)
	}
	return nil
}

// record appends a reward's record and returns the batch that will carry it to disk. Wait on
// it with walBatch.wait before acknowledging the reward.
func (w *wal) record(portfolio, arm string, success bool, issuer, seq uint64, expires time.Time) (*walBatch, error) {
	var p [30]byte
	p[0] = recReward
	if success {
		p[5] = 1
	}
	binary.BigEndian.PutUint64(p[6:], issuer)
	binary.BigEndian.PutUint64(p[14:], seq)
	exp := expires.UnixMilli()
	binary.BigEndian.PutUint64(p[22:], uint64(exp))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	if w.closing {
		return nil, errWALClosed
	}
	key := walKey(portfolio, arm)
	id, ok := w.keys[key]
	if !ok {
		id = uint32(len(w.keys))
		w.keys[key] = id
		w.buf = appendKeyFrame(w.buf, id, key)
	}
	binary.BigEndian.PutUint32(p[1:], id)
	w.buf = appendFrame(w.buf, p[:])
	c := w.counts[key]
	if success {
		c.successes++
	} else {
		c.failures++
	}
	w.counts[key] = c
	w.maxExp = max(w.maxExp, exp)
	w.wake.Signal()
	return w.batch, nil
}

var errWALClosed = errors.New("the state record is closed")

// wait blocks until the batch is on disk and returns the error of its write.
func (b *walBatch) wait() error {
	<-b.done
	return b.err
}

// commit writes and syncs batches until close.
func (w *wal) commit() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.buf) == 0 && !w.closing {
			w.wake.Wait()
		}
		if len(w.buf) == 0 && w.closing {
			w.mu.Unlock()
			return
		}
		data, batch := w.buf, w.batch
		w.buf, w.spare = w.spare[:0], data
		w.batch = &walBatch{done: make(chan struct{})}
		var start []byte
		var prevExp int64
		rotate := w.rotateEvery > 0 && w.now().Sub(w.opened) >= w.rotateEvery
		if rotate {
			// The new segment's checkpoint holds exactly what data and the old segment hold;
			// records appended from now on go to the new segment.
			start, prevExp = w.checkpointLocked()
		}
		w.mu.Unlock()
		err := w.writeSync(data)
		if err == nil && rotate {
			err = w.install(start, prevExp)
		}
		if err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
		batch.err = err
		close(batch.done)
	}
}

// writeSync writes data to the current segment and syncs it: with fdatasync while data fits
// in the zeros written ahead, with fsync when the segment has to grow.
func (w *wal) writeSync(data []byte) error {
	grow := w.off+int64(len(data)) > w.size
	if grow {
		size := w.off + int64(len(data)) + preallocate
		if err := zeroFill(w.f, w.size, size); err != nil {
			return err
		}
		w.size = size
	}
	if _, err := w.f.WriteAt(data, w.off); err != nil {
		return fmt.Errorf("writing the state record: %w", err)
	}
	w.off += int64(len(data))
	sync := w.f.Sync
	if !grow {
		sync = func() error { return syscall.Fdatasync(int(w.f.Fd())) }
	}
	if err := sync(); err != nil {
		return fmt.Errorf("syncing the state record: %w", err)
	}
	return nil
}

// zeroFill writes zeros to f from from to to.
func zeroFill(f *os.File, from, to int64) error {
	zeros := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("preallocating the state record: %w", err)
		}
		off += n
	}
	return nil
}

// close writes what is buffered, stops the committer and releases the directory.
func (w *wal) close() error {
	w.mu.Lock()
	w.closing = true
	w.wake.Signal()
	w.mu.Unlock()
	<-w.done
	var errs []error
	if w.f != nil {
		errs = append(errs, w.f.Close())
	}
	errs = append(errs, w.lock.Close())
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(append(errs, w.err)...)
}
