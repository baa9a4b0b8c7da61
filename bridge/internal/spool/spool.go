// Package spool is the bridge's durable local queue for events JetStream
// did not acknowledge in time. Append returns only after the event is
// fsynced to disk; a Drainer republishes spooled events in order and removes
// each only after JetStream acknowledged it.
//
// The spool is a directory of append-only segment files (seg-<n>.log) of
// checksummed records, locked by one process at a time. Concurrent appends
// share one write and one fsync (group commit). A checkpoint file remembers
// how far draining got; losing it only republishes events the stream then
// reports as duplicates.
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
)

// Defaults for Limits.
const (
	DefaultMaxBytes     = 512 << 20
	DefaultMaxEntries   = 500_000
	DefaultSegmentBytes = 16 << 20
)

// Limits bound the spool.
type Limits struct {
	MaxBytes     int64 // sum of pending record sizes
	MaxEntries   int
	SegmentBytes int64 // a segment is closed once it grows past this
}

var (
	// ErrFull means the spool is at its entry or byte limit.
	ErrFull = errors.New("spool is full")
	// ErrAlreadySpooled means an event with this id is already waiting.
	ErrAlreadySpooled = errors.New("event is already spooled")
	// ErrLocked means another process owns the spool directory.
	ErrLocked = errors.New("spool directory is locked by another process")
	// ErrClosed means the spool was closed.
	ErrClosed = errors.New("spool is closed")
	// ErrNoRoom means the spool's file system has too little free space.
	ErrNoRoom = errors.New("spool disk has too little free space")
)

// Damage describes bytes that could not be read back when opening.
type Damage struct {
	Segment string
	Offset  int64
	Bytes   int64
	Reason  string
	SavedAs string // where the damaged bytes were copied, for inspection; "" if not
	// SaveError says why the bytes could not be copied aside (a full disk,
	// say); the spool opens anyway, since the intact records are kept.
	SaveError string
}

// Observer is told about the spool's size after every change.
type Observer func(entries int, bytes int64)

// Entry is one pending event's place on disk.
type Entry struct {
	ID      string
	Subject string
	Queued  time.Time
	seg     uint64
	off     int64
	size    int64
}

// Spool is the durable queue. It is safe for concurrent use.
type Spool struct {
	dir      string
	limits   Limits
	observe  Observer
	lockFile *os.File

	mu       sync.Mutex
	pending  []Entry // in append order; pending[0] is the oldest
	ids      map[string]struct{}
	reserved int
	bytes    int64
	closed   bool
	// failed is the last append's error until an append, or a probe by
	// Writable, succeeds again; a failed write is never fatal.
	failed   error
	probedAt time.Time
	notify   chan struct{}
	senders  sync.WaitGroup // appends between their checks and their answer

	syncs      atomic.Int64 // fsyncs of appended data, for benchmarks
	reqs       chan *appendReq
	writerDone chan struct{}
	active     *os.File // owned by the writer goroutine
	activeSeq  uint64
	activeSize int64
	rotate     bool // a failed write left the active segment unusable: start a new one

	readMu  sync.Mutex
	readSeq uint64
	readF   *os.File

	cpMu    sync.Mutex // the drain position not yet in the checkpoint file
	cpSeq   uint64
	cpOff   int64
	cpDirty bool
	cpAt    time.Time
}

type appendReq struct {
	rec     []byte
	id      string
	subject string
	at      time.Time
	done    chan error
}

// Open locks dir, recovers what earlier processes left there and starts the
// writer. Damaged bytes found while recovering are copied aside and
// reported; every intact record, before or after them, is kept.
func Open(dir string, limits Limits, observe Observer) (*Spool, []Damage, error) {
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = DefaultMaxBytes
	}
	if limits.MaxEntries <= 0 {
		limits.MaxEntries = DefaultMaxEntries
	}
	if limits.SegmentBytes <= 0 {
		limits.SegmentBytes = DefaultSegmentBytes
	}
	if observe == nil {
		observe = func(int, int64) {}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("spool: %s: %w", dir, ErrLocked)
	}
	s := &Spool{
		dir: dir, limits: limits, observe: observe, lockFile: lock,
		ids:        make(map[string]struct{}),
		notify:     make(chan struct{}, 1),
		reqs:       make(chan *appendReq, 1024),
		writerDone: make(chan struct{}),
	}
	damage, err := s.recover()
	if err != nil {
		s.unlock()
		return nil, damage, err
	}
	if err := s.newSegment(); err != nil {
		s.unlock()
		return nil, damage, err
	}
	s.observe(len(s.pending), s.bytes)
	go s.writer()
	return s, damage, nil
}

func segName(seq uint64) string { return fmt.Sprintf("seg-%020d.log", seq) }

func (s *Spool) segments() ([]uint64, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "seg-*.log"))
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "seg-"), ".log")
		if seq, err := strconv.ParseUint(base, 10, 64); err == nil {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// recover scans every segment and rebuilds the pending queue, skipping
// what the checkpoint says was drained, but only where the checkpoint
// matches the log: a checkpoint at a segment that is still on disk, past
// its end, or between records is reported as damage and that segment's
// records are all kept. Republishing costs a duplicate; trusting a wrong
// checkpoint would delete events that were answered 200. Segment numbers
// continue after both the last segment and the checkpoint, so a number is
// never reused.
func (s *Spool) recover() ([]Damage, error) {
	cpSeq, cpOff := s.readCheckpoint()
	seqs, err := s.segments()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.activeSeq = cpSeq
	var damage []Damage
	for _, seq := range seqs {
		s.activeSeq = max(s.activeSeq, seq)
		path := filepath.Join(s.dir, segName(seq))
		recs, bad, err := scanSegment(path, seq)
		damage = append(damage, bad...)
		if err != nil {
			return damage, err
		}
		drainedTo := int64(0) // records ending at or before it were drained
		switch {
		case len(recs) == 0:
		case seq < cpSeq:
			damage = append(damage, Damage{Segment: segName(seq), Reason: fmt.Sprintf(
				"the checkpoint is at segment %d, past this one: its %d records are kept and republished", cpSeq, len(recs))})
		case seq == cpSeq && !endsRecord(recs, cpOff):
			damage = append(damage, Damage{Segment: segName(seq), Offset: cpOff, Reason: fmt.Sprintf(
				"the checkpoint offset %d is not the end of a record: the segment's %d records are kept and republished", cpOff, len(recs))})
		case seq == cpSeq:
			drainedTo = cpOff
		}
		for _, r := range recs {
			if _, dup := s.ids[r.ID]; r.off+r.size > drainedTo && !dup {
				s.pending = append(s.pending, r)
				s.ids[r.ID] = struct{}{}
				s.bytes += r.size
			}
		}
		if !s.segmentInUse(seq) {
			_ = os.Remove(path) // fully drained
		}
	}
	return damage, nil
}

// scanSegment returns the intact records of a segment in order. Damaged
// bytes are reported and copied aside; every intact record before or after
// them is kept. Only an unreadable file is an error.
func scanSegment(path string, seq uint64) ([]Entry, []Damage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	var (
		recs   []Entry
		damage []Damage
	)
	for off := int64(0); off < int64(len(raw)); {
		m, at, size, err := readRecord(raw, off)
		if err != nil {
			// Resume at the next offset where a whole record checks out.
			next := resync(raw, off+1)
			damage = append(damage, saveDamaged(path, raw[off:next], off, err))
			off = next
			continue
		}
		recs = append(recs, Entry{ID: m.ID, Subject: m.Subject, seg: seq, off: off, size: size, Queued: at})
		off += size
	}
	return recs, damage, nil
}

// endsRecord reports whether off is 0 or the end of one of recs.
func endsRecord(recs []Entry, off int64) bool {
	if off == 0 {
		return true
	}
	for _, r := range recs {
		if r.off+r.size == off {
			return true
		}
	}
	return false
}

// readRecord decodes the record at off in a segment's bytes.
func readRecord(raw []byte, off int64) (outbound.Message, time.Time, int64, error) {
	n, err := parseHeader(raw[off:], int64(len(raw))-off)
	if err != nil {
		return outbound.Message{}, time.Time{}, 0, err
	}
	size := int64(headerSize + n)
	m, at, err := decodeRecord(raw[off : off+size])
	return m, at, size, err
}

// resync finds the first offset at or after from where a whole record
// checks out, or the end of raw.
func resync(raw []byte, from int64) int64 {
	for p := from; p < int64(len(raw)); p++ {
		if raw[p] != recordMagic {
			continue
		}
		if _, _, _, err := readRecord(raw, p); err == nil {
			return p
		}
	}
	return int64(len(raw))
}

// saveDamaged copies unreadable bytes next to their segment for an
// operator. Segments are never rewritten: Open starts a new one to append
// to, and pending entries simply skip the damaged range. Failing to copy
// (a full disk) is reported in the Damage, not fatal: the intact records
// matter more than a copy of the broken ones.
func saveDamaged(path string, bad []byte, off int64, cause error) Damage {
	d := Damage{Segment: filepath.Base(path), Offset: off, Bytes: int64(len(bad)), Reason: cause.Error(),
		SavedAs: fmt.Sprintf("%s.%d.damaged", path, off)}
	if err := writeFileSync(d.SavedAs, bad); err != nil {
		_ = os.Remove(d.SavedAs)
		d.SavedAs, d.SaveError = "", err.Error()
	}
	return d
}

func (s *Spool) segmentInUse(seq uint64) bool {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if s.pending[i].seg == seq {
			return true
		}
		if s.pending[i].seg < seq {
			return false
		}
	}
	return false
}

// newSegment starts the next segment file; only the writer (or Open) calls
// it. The previous segment is deleted if nothing in it still waits.
func (s *Spool) newSegment() error {
	prev, next := s.activeSeq, s.activeSeq+1
	f, err := os.OpenFile(filepath.Join(s.dir, segName(next)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.activeSeq = next
	prevDone := prev > 0 && (len(s.pending) == 0 || s.pending[0].seg > prev)
	s.mu.Unlock()
	if s.active != nil {
		_ = s.active.Close()
	}
	s.active, s.activeSize = f, 0
	if prevDone {
		_ = os.Remove(filepath.Join(s.dir, segName(prev)))
	}
	return nil
}

// Append stores m durably. It returns nil only after the record is fsynced;
// ErrAlreadySpooled when an event with the same id waits already (nothing is
// added); ErrFull at the limits.
func (s *Spool) Append(m outbound.Message) error {
	now := time.Now()
	rec, err := encodeRecord(m, now)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, dup := s.ids[m.ID]; dup {
		s.mu.Unlock()
		return ErrAlreadySpooled
	}
	if len(s.pending)+s.reserved+1 > s.limits.MaxEntries || s.bytes+int64(len(rec)) > s.limits.MaxBytes {
		s.mu.Unlock()
		return ErrFull
	}
	s.ids[m.ID] = struct{}{}
	s.reserved++
	s.bytes += int64(len(rec))
	s.senders.Add(1)
	s.mu.Unlock()

	req := &appendReq{rec: rec, id: m.ID, subject: m.Subject, at: now, done: make(chan error, 1)}
	s.reqs <- req
	err = <-req.done
	s.senders.Done()
	if err != nil {
		s.mu.Lock()
		delete(s.ids, m.ID)
		s.reserved--
		s.bytes -= int64(len(rec))
		s.mu.Unlock()
		return err
	}
	return nil
}

// writer serialises appends: it takes every request waiting, writes them,
// fsyncs once, and only then makes them visible and answers.
func (s *Spool) writer() {
	defer close(s.writerDone)
	for req := range s.reqs {
		batch := []*appendReq{req}
	more:
		for len(batch) < 512 {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		entries, err := s.writeBatch(batch)
		s.mu.Lock()
		s.failed = err
		if err == nil {
			s.pending = append(s.pending, entries...)
			s.reserved -= len(entries)
		}
		n, b := len(s.pending), s.bytes
		s.mu.Unlock()
		if err == nil {
			s.observe(n, b)
			s.wake()
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (s *Spool) writeBatch(batch []*appendReq) ([]Entry, error) {
	if s.rotate || s.activeSize >= s.limits.SegmentBytes {
		if !s.rotate {
			if err := s.active.Sync(); err != nil {
				return nil, fmt.Errorf("spool: fsync: %w", err)
			}
		}
		if err := s.newSegment(); err != nil {
			return nil, err
		}
		s.rotate = false
	}
	start := s.activeSize
	buf := make([]byte, 0, len(batch)*len(batch[0].rec))
	entries := make([]Entry, 0, len(batch))
	off := start
	for _, r := range batch {
		buf = append(buf, r.rec...)
		entries = append(entries, Entry{ID: r.id, Subject: r.subject, seg: s.activeSeq, off: off, size: int64(len(r.rec)), Queued: r.at})
		off += int64(len(r.rec))
	}
	_, err := s.active.Write(buf)
	if err == nil {
		err = s.active.Sync()
		s.syncs.Add(1)
	}
	if err != nil {
		// The batch is refused, never the spool: cut off what was written
		// and continue in a fresh segment, since after a failed fsync the
		// file's state is not known. Recovery skips a tail the truncate
		// could not remove as damage.
		_ = s.active.Truncate(start)
		s.rotate = true
		return nil, fmt.Errorf("spool: write: %w", err)
	}
	s.activeSize = off
	return entries, nil
}

func (s *Spool) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Notify receives a value after appends; the drainer waits on it.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Contains reports whether an event with this id is waiting.
func (s *Spool) Contains(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// Len is the number of events waiting (including those being written).
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) + s.reserved
}

// probeBytes is what Writable writes to learn whether a failed disk
// accepts writes again.
const probeBytes = 64 << 10

// Writable reports whether an append of need bytes would be taken now: nil
// when the spool is open, below its limits and its file system has room,
// and, after a failed append, when a probe write and fsync succeed (tried
// at most once a second). Readiness uses it, so that a bridge that would
// refuse callbacks does not report itself able to take them.
func (s *Spool) Writable(need int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case len(s.pending)+s.reserved >= s.limits.MaxEntries || s.bytes+need > s.limits.MaxBytes:
		return ErrFull
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err == nil && int64(st.Bavail)*int64(st.Bsize) < need {
		return ErrNoRoom
	}
	if s.failed != nil && time.Since(s.probedAt) >= time.Second {
		s.probedAt = time.Now()
		probe := filepath.Join(s.dir, "probe.tmp")
		if err := writeFileSync(probe, make([]byte, probeBytes)); err == nil {
			s.failed = nil
		}
		_ = os.Remove(probe)
	}
	if s.failed != nil {
		return fmt.Errorf("spool: the last append failed: %w", s.failed)
	}
	return nil
}

// Stats returns the entries and bytes waiting and the oldest one's age.
func (s *Spool) Stats() (entries int, bytes int64, oldest time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		oldest = time.Since(s.pending[0].Queued)
	}
	return len(s.pending), s.bytes, oldest
}

// Waiting lists the events waiting, oldest first.
func (s *Spool) Waiting() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pending)
}

// First is the oldest waiting entry, without reading its event back.
func (s *Spool) First() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return Entry{}, false
	}
	return s.pending[0], true
}

// Head returns the oldest waiting event, read back from disk and checked.
func (s *Spool) Head() (Entry, outbound.Message, bool, error) {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return Entry{}, outbound.Message{}, false, nil
	}
	e := s.pending[0]
	s.mu.Unlock()

	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.readF == nil || s.readSeq != e.seg {
		if s.readF != nil {
			s.readF.Close()
		}
		f, err := os.Open(filepath.Join(s.dir, segName(e.seg)))
		if err != nil {
			s.readF = nil
			return e, outbound.Message{}, true, fmt.Errorf("spool: %w", err)
		}
		s.readF, s.readSeq = f, e.seg
	}
	rec := make([]byte, e.size)
	n, err := s.readF.ReadAt(rec, e.off)
	if err != nil && !errors.Is(err, io.EOF) {
		// EMFILE, EIO, ...: nothing says the record is bad; read it again.
		s.readF.Close()
		s.readF = nil
		return e, outbound.Message{}, true, fmt.Errorf("spool: reading %s@%d: %w", segName(e.seg), e.off, err)
	}
	m, _, err := decodeRecord(rec[:n])
	if err != nil {
		return e, m, true, &DamagedError{Segment: segName(e.seg), Offset: e.off, Raw: rec[:n], Err: err}
	}
	return e, m, true, nil
}

// DamagedError is a record that its own bytes prove unreadable: the file
// ends before it, or its framing or checksum is wrong. Reading it again
// cannot help; SetAsideDamaged copies it for an operator and drops it.
// Any other error of Head is worth retrying.
type DamagedError struct {
	Segment string
	Offset  int64
	Raw     []byte // what was read
	Err     error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("spool: %s@%d: %v", e.Segment, e.Offset, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// SetAsideDamaged copies a damaged head record's bytes next to its
// segment (seg-<n>.log.<offset>.damaged) and then drops it. If the copy
// fails (a full disk), the record stays at the head and the error says
// why: nothing is dropped without its bytes kept.
func (s *Spool) SetAsideDamaged(e Entry, d *DamagedError) (Damage, error) {
	dmg := saveDamaged(filepath.Join(s.dir, d.Segment), d.Raw, d.Offset, d.Err)
	if dmg.SaveError != "" {
		return dmg, fmt.Errorf("spool: copying a damaged record: %s", dmg.SaveError)
	}
	return dmg, s.Remove(e)
}

// Remove drops e, which must be the head, after it reached the stream (or
// was set aside). Segments with nothing left waiting are deleted.
func (s *Spool) Remove(e Entry) error {
	s.mu.Lock()
	if len(s.pending) == 0 || s.pending[0].ID != e.ID || s.pending[0].seg != e.seg || s.pending[0].off != e.off {
		s.mu.Unlock()
		return fmt.Errorf("spool: remove of %s which is not the head", e.ID)
	}
	s.pending[0] = Entry{}
	s.pending = s.pending[1:]
	delete(s.ids, e.ID)
	s.bytes -= e.size
	n, b := len(s.pending), s.bytes
	segDone := n == 0 || s.pending[0].seg != e.seg
	active := s.activeSeq
	s.mu.Unlock()

	s.observe(n, b)
	// A drained segment goes before the checkpoint moves on: a checkpoint
	// past a segment still on disk then always means damage (see recover).
	var rmErr error
	if segDone && e.seg != active {
		s.readMu.Lock()
		if s.readF != nil && s.readSeq == e.seg {
			s.readF.Close()
			s.readF = nil
		}
		s.readMu.Unlock()
		if err := os.Remove(filepath.Join(s.dir, segName(e.seg))); err != nil && !os.IsNotExist(err) {
			rmErr = fmt.Errorf("spool: %w", err)
		}
	}
	// The checkpoint follows at most every checkpointEvery, and at every
	// segment's end: a write per removal cost a drain or a journal four
	// syscalls per event.
	s.cpMu.Lock()
	s.cpSeq, s.cpOff, s.cpDirty = e.seg, e.off+e.size, true
	if segDone || time.Since(s.cpAt) >= checkpointEvery {
		s.flushCheckpointLocked()
	}
	s.cpMu.Unlock()
	return rmErr
}

// checkpointEvery is how often removals move the checkpoint file.
const checkpointEvery = 100 * time.Millisecond

// flushCheckpointLocked writes the pending checkpoint; cpMu is held.
func (s *Spool) flushCheckpointLocked() {
	if s.cpDirty {
		s.writeCheckpoint(s.cpSeq, s.cpOff)
		s.cpDirty, s.cpAt = false, time.Now()
	}
}

// SetAside appends the raw record of e to rejected.log (fsynced) so an
// event the stream refuses for good is kept for an operator, then removes it.
func (s *Spool) SetAside(e Entry, m outbound.Message) error {
	rec, err := encodeRecord(m, e.Queued)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "rejected.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, werr := f.Write(rec)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("spool: rejected.log: %w", werr)
	}
	return s.Remove(e)
}

func (s *Spool) readCheckpoint() (uint64, int64) {
	raw, err := os.ReadFile(filepath.Join(s.dir, "checkpoint"))
	if err != nil {
		return 0, 0
	}
	var seq uint64
	var off int64
	if _, err := fmt.Sscanf(string(raw), "%d %d", &seq, &off); err != nil {
		return 0, 0
	}
	return seq, off
}

// writeCheckpoint records the drain position. It is not fsynced: a stale
// checkpoint only republishes events the stream reports as duplicates.
func (s *Spool) writeCheckpoint(seq uint64, off int64) {
	tmp := filepath.Join(s.dir, "checkpoint.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", seq, off)), 0o640); err == nil {
		_ = os.Rename(tmp, filepath.Join(s.dir, "checkpoint"))
	}
}

// Close stops accepting appends, waits for the writer, and releases the
// directory lock. Waiting events stay on disk for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.senders.Wait() // no Append is between its checks and its send any more
	close(s.reqs)
	<-s.writerDone
	s.cpMu.Lock()
	s.flushCheckpointLocked()
	s.cpMu.Unlock()
	var err error
	if s.active != nil {
		err = s.active.Close()
	}
	s.readMu.Lock()
	if s.readF != nil {
		s.readF.Close()
	}
	s.readMu.Unlock()
	s.unlock()
	return err
}

func (s *Spool) unlock() {
	_ = syscall.Flock(int(s.lockFile.Fd()), syscall.LOCK_UN)
	_ = s.lockFile.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
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
	return err
}
