package ledger

import (
	"crypto/sha256"
	"runtime"
	"sync"

	"github.com/hashicorp/raft"
)

// sigMemo remembers transfers whose signature this voter has already
// checked, keyed by SHA-256 of the signed bytes and the signature. Checking
// a signature is a pure function of those bytes, so consulting the memo in
// FSM.Apply gives the same outcome as checking again; it only lets the
// check happen earlier and in parallel (when the leader accepts a
// submission, when a follower stores a log entry) instead of on the single
// apply goroutine. Each voter has its own memo: no voter trusts another's
// check. Only successes are remembered; entries are removed when used and
// the memo is dropped whole if it grows past sigMemoMax (entries that never
// apply, such as truncated log entries, cannot pile up).
type sigMemo struct {
	mu sync.Mutex
	m  map[[32]byte]struct{}
}

const sigMemoMax = 1 << 18

func sigKey(st *SignedTransfer) [32]byte {
	h := sha256.New()
	h.Write(st.SigningBytes())
	h.Write(st.Sig)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (m *sigMemo) add(k [32]byte) {
	m.mu.Lock()
	if m.m == nil || len(m.m) >= sigMemoMax {
		m.m = make(map[[32]byte]struct{})
	}
	m.m[k] = struct{}{}
	m.mu.Unlock()
}

func (m *sigMemo) has(k [32]byte) bool {
	m.mu.Lock()
	_, ok := m.m[k]
	m.mu.Unlock()
	return ok
}

func (m *sigMemo) take(k [32]byte) bool {
	m.mu.Lock()
	_, ok := m.m[k]
	if ok {
		delete(m.m, k)
	}
	m.mu.Unlock()
	return ok
}

// preverify checks st's signature now and remembers a success for Apply.
func (f *FSM) preverify(st *SignedTransfer) error {
	k := sigKey(st)
	if f.memo.has(k) {
		return nil
	}
	if err := st.Verify(); err != nil {
		return err
	}
	f.memo.add(k)
	return nil
}

// verify is the check used by Apply: the memo if this voter already
// checked these exact bytes, else the signature itself.
func (f *FSM) verify(st *SignedTransfer) error {
	if err := st.Validate(); err != nil {
		return err
	}
	if f.memo.take(sigKey(st)) {
		return nil
	}
	return st.Verify()
}

// verifyAll checks every transfer of a batch, in parallel: the outcome is
// the same on every voter whatever the scheduling.
func (f *FSM) verifyAll(txs []SignedTransfer) []error {
	errs := make([]error, len(txs))
	parallel(len(txs), func(i int) { errs[i] = f.verify(&txs[i]) })
	return errs
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || n < 16 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// verifyingStore is the raft LogStore with one addition: when a batch
// entry is stored (on a follower: when it arrives, before it commits), its
// signatures are checked in the background into the FSM's memo, so that
// the check overlaps replication instead of delaying apply.
type verifyingStore struct {
	raft.LogStore
	fsm *FSM
	wg  sync.WaitGroup
	sem chan struct{}
}

func newVerifyingStore(inner raft.LogStore, fsm *FSM) *verifyingStore {
	return &verifyingStore{LogStore: inner, fsm: fsm, sem: make(chan struct{}, 2)}
}

// StoreLog stores one entry (see StoreLogs).
func (v *verifyingStore) StoreLog(l *raft.Log) error { return v.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores entries, then starts checking their signatures.
func (v *verifyingStore) StoreLogs(logs []*raft.Log) error {
	if err := v.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	for _, l := range logs {
		if l.Type != raft.LogCommand || len(l.Data) == 0 || (l.Data[0] != cmdBatch && l.Data[0] != cmdBatchV2) {
			continue
		}
		select {
		case v.sem <- struct{}{}:
		default:
			continue // already busy: Apply will check these itself
		}
		data := l.Data
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			defer func() { <-v.sem }()
			_, txs, err := decodeBatch(data[1:])
			if err != nil {
				return
			}
			parallel(len(txs), func(i int) { _ = v.fsm.preverify(&txs[i]) })
		}()
	}
	return nil
}

// wait waits for background checks to finish.
func (v *verifyingStore) wait() { v.wg.Wait() }
