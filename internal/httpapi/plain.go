package httpapi

import (
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/transfer"
)

// plainError is how an error is told to a person: a stable code, the
// message in plain words (empty: the error's own text, less package
// prefixes) and the next step. The CLI and the web app print what the API
// answers, so this table is the one place where ledger, market and
// transfer errors get their words.
type plainError struct {
	err  error
	code string
	msg  string
	hint string
}

// errOwnListing answers a purchase of one's own listing.
var errOwnListing = errors.New("this is your own listing: you cannot buy it")

// plainErrors are ordered like [errorStatuses]: the first match wins.
var plainErrors = []plainError{
	{errOwnListing, "own_listing", "", "to take it off the market, withdraw it (peerpath market withdraw LISTING_ID, or Withdraw on the Market page)"},
	{ErrNotEnabled, "not_enabled", "", "this node runs without that part: see the daemon's flags (peerpath daemon --help)"},
	{ledger.ErrInsufficientFunds, "insufficient_funds", "",
		"a payment needs the amount plus the fee: see your balance with peerpath wallet (or the Wallet page); credits come from peers paying you for traffic, compute or goods"},
	{ledger.ErrNoLedger, "no_ledger", "",
		"this node belongs to no credits ledger: start the daemon with --ledger-voters PEER_ID of a ledger's voter, or create a ledger (peerpath ledger create)"},
	{ledger.ErrNoLeader, "no_leader", "the ledger cannot decide right now: too few of its voters are reachable", "try again in a minute"},
	{ledger.ErrBusy, "busy", "", "wait a few seconds and try again"},
	{ledger.ErrUnknownAccount, "unknown_account", "", "a payee is a peer ID (12D3KooW…): copy it from the peer's Settings page or peerpath id"},
	{ledger.ErrSettled, "settled", "", "nothing more to do for this order"},
	{ledger.ErrNotPermitted, "not_permitted", "", ""},
	{market.ErrExpired, "listing_expired", "this listing has expired", "the seller has to list it again"},
	{market.ErrMismatch, "listing_changed", "this listing was withdrawn or changed by its seller", "search the market again for a current listing"},
	{market.ErrNotFound, "not_found", "", "search the market again (peerpath market search, or the Market page) for a current listing"},
	{market.ErrPending, "order_pending", "the payment is in escrow but no ledger voter has released the goods yet",
		"run the same purchase again later to finish it; if it never completes, refund it (peerpath market refund ORDER_ID)"},
	{market.ErrRefunded, "refunded", "", "the price came back to your wallet; you may buy again"},
	{transfer.ErrNoProviders, "no_providers", "",
		"try again later, when a peer that shares it is online, or connect to one (peerpath connect ADDRESS)"},
	{transfer.ErrExists, "exists", "", "choose another name (-o PATH), or move the existing file away"},
	{transfer.ErrInProgress, "in_progress", "", "see it with peerpath downloads (or the Downloads page)"},
}

// packagePrefix matches the "ledger: ", "market: buy: " prefixes Go errors
// carry, which mean nothing to a person.
var packagePrefix = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(ledger|market|transfer|share|search|compute|sandbox|httpapi|meter)(: (buy|sell|search|rate|refund|withdraw|submit))?: `)
})

// plainOf returns the code, the message and the next step of err.
func plainOf(err error) (code, msg, hint string) {
	msg = packagePrefix().ReplaceAllString(err.Error(), "")
	for _, p := range plainErrors {
		if errors.Is(err, p.err) {
			if p.msg != "" {
				msg = p.msg
			}
			return p.code, msg, p.hint
		}
	}
	return "", msg, ""
}

// badCID says that s is not a content id, and where to find one.
func badCID(s string, _ error) error {
	return fmt.Errorf("bad content id %q: content ids look like bafk… or bag…; copy one from peerpath search or the Search page", s)
}
