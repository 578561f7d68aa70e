package transfer

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// noteAnswer records the outcome of asking p for something in this
// session: whether p answered busy (and its message) the last time, so a
// Get that fails can say the providers were busy rather than absent. Its
// memory is bounded by the providers the session tried.
func (ss *session) noteAnswer(p peer.ID, err error) {
	var re *RemoteError
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.answered == nil {
		ss.answered = make(map[peer.ID]bool)
		ss.busy = make(map[peer.ID]string)
	}
	ss.answered[p] = true
	if errors.As(err, &re) && re.Refused() {
		if ss.refused == nil {
			ss.refused = make(map[peer.ID]bool)
		}
		ss.refused[p] = true
	}
	if errors.As(err, &re) && re.Busy() {
		ss.busy[p] = re.Message
	} else {
		delete(ss.busy, p)
	}
}

// noDelivery returns the error of a Get that nothing was delivered to in
// time (what says what was missing): [ErrBusy] when some provider's last
// answer was busy, quoting one such answer, and [ErrNoProviders] otherwise,
// each with the number of providers tried.
func (ss *session) noDelivery(format string, a ...any) error {
	what := fmt.Sprintf(format, a...)
	ss.mu.Lock()
	tried, busy, refused := len(ss.answered), len(ss.busy), len(ss.refused)
	var msg string
	var from peer.ID
	for p, m := range ss.busy {
		if from == "" || p < from { // the same one every time
			from, msg = p, m
		}
	}
	ss.mu.Unlock()
	if refused > 0 {
		return fmt.Errorf("%w: %s: %d of %d peers tried refused it", ErrRefusedByPeer, what, refused, tried)
	}
	if busy > 0 {
		return fmt.Errorf("%w: %s: %d of %d peers tried answered busy (%s said %q); try again later",
			ErrBusy, what, busy, tried, from, msg)
	}
	return fmt.Errorf("%w: %s (%d peers tried)", ErrNoProviders, what, tried)
}
