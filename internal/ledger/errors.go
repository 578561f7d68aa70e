package ledger

import "errors"

// Sentinel errors. Outcomes of a transfer (the first group) are decided by
// the replicated state machine, so every voter agrees on them; they survive
// a trip over the client protocol, so errors.Is works on the caller's side
// whichever node applied the transfer.
var (
	// ErrInsufficientFunds is returned by Submit when the payer's balance
	// does not cover amount plus fee (an account never seen has zero).
	ErrInsufficientFunds = errors.New("ledger: insufficient funds")
	// ErrBadSignature is returned by Submit (and SignedTransfer.Verify) when
	// the signature is not the signer's, or the signer is not a peer ID that
	// embeds its public key.
	ErrBadSignature = errors.New("ledger: bad signature")
	// ErrUnknownAccount is returned when an account string is not a peer ID
	// (the receiver of a transfer, the account of Balance or History). A valid
	// peer ID never seen before is not unknown: it has zero balance.
	ErrUnknownAccount = errors.New("ledger: unknown account")
	// ErrInvalid is returned by Submit for a malformed transfer (sizes,
	// non-positive amount, payer equal to receiver, unknown kind).
	ErrInvalid = errors.New("ledger: invalid transfer")
	// ErrExpired is returned by Submit when the transfer's Time is outside
	// the ledger's ID window around the ledger clock; such a transfer can
	// no longer be told apart from a replay, so it is refused. Sign a new one.
	ErrExpired = errors.New("ledger: transfer expired")
	// ErrGrantRefused is returned by Submit for a grant request when no
	// grant is configured, the account already holds or held credits or got
	// its grant, or the hourly grant limit is reached.
	ErrGrantRefused = errors.New("ledger: grant refused")
	// ErrNoLedger is returned by Submit, Balance and History when no ledger
	// has been created yet (no genesis applied on the answering voter).
	ErrNoLedger = errors.New("ledger: no ledger")

	// ErrNotFound is returned for a market operation or query naming a
	// listing or order the ledger does not hold.
	ErrNotFound = errors.New("ledger: not found")
	// ErrSettled is returned for a release, refund or rating that does not
	// fit the order's state: an order settles exactly once, and only a
	// released order can be rated, once.
	ErrSettled = errors.New("ledger: order already settled")
	// ErrNotPermitted is returned for a market operation signed by an
	// account that may not perform it (not the seller, not one of the
	// order's voters, a buyer asking for a refund before the deadline).
	ErrNotPermitted = errors.New("ledger: not permitted")
	// ErrListing is returned for a purchase that does not match its
	// listing (withdrawn, expired, other price or seller) or a listing that
	// cannot be registered (duplicate id, bad key record).
	ErrListing = errors.New("ledger: listing refused")
	// ErrReplayed is returned by Submit for a purchase (KindBuy) whose ID
	// names an order the ledger already holds: a replayed order is refused,
	// where a replay of any other kind returns the original receipt. The
	// buyer who placed the order reads it with Service.Order.
	ErrReplayed = errors.New("ledger: replayed order refused")
	// ErrConflict is returned by Submit for a transfer whose ID its signer
	// already used for a transfer with other content (still remembered,
	// see Genesis.IDWindow). Transfer IDs are scoped to their signer: a
	// retry with the same content gets the first receipt instead.
	ErrConflict = errors.New("ledger: transfer id already used for another transfer")

	// ErrNotVoter is returned by Create, AddVoter and RemoveVoter on a
	// service that is not configured as a voter.
	ErrNotVoter = errors.New("ledger: not a voter")
	// ErrLedgerExists is returned by Create when this voter already has
	// raft state (a ledger exists or it has joined one).
	ErrLedgerExists = errors.New("ledger: ledger already exists")
	// ErrInvitationRefused is returned by Create and AddVoter when a voter
	// refused the invitation (the error names it and the flag that fixes
	// it), and by a voter refusing one: an inviter it does not trust,
	// another inviter's invitation already accepted, a ledger already held.
	ErrInvitationRefused = errors.New("ledger: invitation refused")
	// ErrNoLeader is returned (wrapped with the context's error) when no
	// leader, or for a non-voter no voter, answered before the context ended.
	ErrNoLeader = errors.New("ledger: no leader")
	// ErrClosed is returned by calls on a closed service.
	ErrClosed = errors.New("ledger: service closed")
	// ErrBusy answers a peer that sends a voter more requests than its
	// share (Config.ClientRate); the request may be retried shortly.
	ErrBusy = errors.New("ledger: too many requests from this peer; retry shortly")
)

// errCodes maps the sentinel errors that travel over the wire (in raft
// results and client protocol responses) to stable small numbers.
var errCodes = []error{
	nil,
	ErrInsufficientFunds,
	ErrBadSignature,
	ErrUnknownAccount,
	ErrInvalid,
	ErrExpired,
	ErrGrantRefused,
	ErrNoLedger,
	ErrNotVoter,
	ErrLedgerExists,
	ErrNoLeader,
	ErrClosed,
	errNotLeader,
	errBadRequest,
	ErrNotFound,
	ErrSettled,
	ErrNotPermitted,
	ErrListing,
	ErrReplayed,
	ErrBusy,
	ErrConflict,
	ErrInvitationRefused,
}

// errNotLeader is internal: a forwarded request reached a voter that is not
// the leader; the caller retries elsewhere.
var errNotLeader = errors.New("ledger: not the leader")

// errCode returns the code of err's sentinel, or -1 if it has none.
func errCode(err error) int {
	for i, e := range errCodes {
		if e != nil && errors.Is(err, e) {
			return i
		}
	}
	if err == nil {
		return 0
	}
	return -1
}

// codeErr returns the sentinel for code, or nil for 0 and unknown codes.
func codeErr(code int) error {
	if code <= 0 || code >= len(errCodes) {
		return nil
	}
	return errCodes[code]
}
