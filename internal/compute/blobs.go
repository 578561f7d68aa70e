package compute

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Content stores job content and moves it between nodes by content id
// (CIDv1 with a BLAKE3-256 multihash, as package content names files): the
// submitter publishes a job's module and inputs, a worker fetches them, and
// a worker publishes an output too large to travel inline for the
// submitter to fetch. The node implements it over its sharing and transfer
// services (verified chunks from every provider); the package's tests and
// the benchmark (computebench) use an in-memory network of them (package
// memcontent).
//
// Keys name what a node publishes. They are made of lower-case letters,
// digits and '-' only, at most 100 characters: "job-JOBID-module",
// "job-JOBID-in-I" and "result-ID" (ID chosen by the worker).
type Content interface {
	// Publish stores data under key, in the node's home so that it
	// survives a restart, and serves it to other peers by its content
	// id, which it returns. Publishing a key again replaces its data.
	Publish(ctx context.Context, key string, data []byte) (id string, err error)
	// Fetch returns the bytes of the file content id, which must be size
	// bytes long: from this node when it holds them, otherwise from from
	// (a peer that holds them) and any other provider. The bytes are
	// verified against id before they are returned; a content id that
	// does not name a file of size bytes is refused before its data is
	// downloaded.
	Fetch(ctx context.Context, id string, size int64, from peer.ID) ([]byte, error)
	// Unpublish stops serving key and deletes its data. An unknown key is
	// not an error.
	Unpublish(ctx context.Context, key string) error
	// Keys lists the keys published and not unpublished, including those
	// of a previous run.
	Keys(ctx context.Context) ([]string, error)
}

// Content keys.
func moduleKey(job string) string       { return "job-" + job + "-module" }
func inputKey(job string, i int) string { return "job-" + job + "-in-" + strconv.Itoa(i) }
func resultKey(attempt string) string   { return "result-" + attempt }

// keyJob returns the job a key of a job's content belongs to, or "".
func keyJob(key string) string {
	rest, ok := strings.CutPrefix(key, "job-")
	if !ok || len(rest) < 33 || rest[32] != '-' || !validJobID(rest[:32]) {
		return ""
	}
	return rest[:32]
}

// ValidContentKey reports whether key has the form of a Content key.
func ValidContentKey(key string) bool {
	if key == "" || len(key) > 100 {
		return false
	}
	for _, c := range key {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// sweepEvery is how often published content is checked for leftovers,
// besides when a job ends.
const sweepEvery = time.Minute

// sweepLoop unpublishes content nobody needs any more: the module and
// inputs of jobs that are finished (or unknown: a submission that failed
// half way), and outputs published for attempts that are over (left by a
// crash). It runs at start, when a job ends, and now and then. An active
// job whose content is gone (its files deleted by hand, say) could never
// finish: the sweep fails it, with the reason.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("compute: removing finished jobs' content", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweepWake:
		}
	}
}

func (s *Service) sweep(ctx context.Context) error {
	// Jobs active now had their content published before they became
	// active, so it must be among the keys listed after this.
	s.mu.Lock()
	var active []*job
	for _, j := range s.jobs {
		if !j.finishedState() {
			active = append(active, j)
		}
	}
	s.mu.Unlock()
	keys, err := s.cfg.Content.Keys(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	for _, j := range active {
		if missing := missingContent(j, have); missing != "" {
			s.mu.Lock()
			if !j.finishedState() {
				s.log.Warn("compute: job content missing", "job", j.id, "key", missing)
				err = s.endJob(ctx, j, StateFailed, "its content is no longer published ("+missing+"); submit it again")
			}
			s.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	for _, k := range keys {
		if !s.stale(k) {
			continue
		}
		if err := s.cfg.Content.Unpublish(ctx, k); err != nil {
			return err
		}
		s.log.Debug("compute: content unpublished", "key", k)
	}
	return nil
}

// missingContent returns the key of a piece of j's content that is not
// published, or "". j's module, inputs and spec are immutable.
func missingContent(j *job, have map[string]bool) string {
	if k := moduleKey(j.id); !have[k] {
		return k
	}
	for i, in := range j.inputs {
		if k := inputKey(j.id, i); in.id != "" && !have[k] {
			return k
		}
	}
	return ""
}

// stale reports whether the content published under key is no longer
// needed.
func (s *Service) stale(key string) bool {
	if a, ok := strings.CutPrefix(key, "result-"); ok {
		return !s.w.publishing(a)
	}
	id := keyJob(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.submitting[id] {
		return false
	}
	j := s.jobs[id]
	return j == nil || j.finishedState()
}

func (s *Service) wakeSweep() {
	select {
	case s.sweepWake <- struct{}{}:
	default:
	}
}
