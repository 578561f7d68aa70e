package httpapi

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/backup"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/contacts"
	"github.com/peerpath/peerpath/internal/inbox"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/msg"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/policy"
	"github.com/peerpath/peerpath/internal/publish"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/transfer"
	"github.com/peerpath/peerpath/internal/tunnel"
)

// ErrNotEnabled is answered (503) by every route of a subsystem the node
// was built without: a nil service in [Services].
var ErrNotEnabled = errors.New("httpapi: " + api.ErrNotEnabled)

// errorStatus is a sentinel error and the HTTP status it maps to.
type errorStatus struct {
	err    error
	status int
}

// errorStatuses maps domain errors to HTTP statuses: the one place where
// they meet. The order is the precedence: an error that wraps several
// sentinels (errors.Join, or "%w … %w") gets the status of the first entry
// it matches, whatever the order it wraps them in. Entries go from the
// most particular cause to the most general:
//
//  1. the subsystem is missing (503);
//  2. the request itself is wrong or too large (400, 413);
//  3. the caller lacks the right (403) or the credits (402);
//  4. what the request names is missing, gone or in another state (404,
//     410, 409);
//  5. the network or the ledger cannot serve it now (429, 503, 504);
//  6. a peer sent something wrong (502).
//
// So "bad input that also timed out" is 400, not 504. Errors that match no
// entry fall to [statusOf]'s defaults (context errors, then 500).
var errorStatuses = []errorStatus{
	{ErrNotEnabled, http.StatusServiceUnavailable},

	// 2. the request
	{p2p.ErrMsgTooLarge, http.StatusRequestEntityTooLarge},
	{search.ErrQueryTooLarge, http.StatusRequestEntityTooLarge},
	{search.ErrBadQuery, http.StatusBadRequest},
	{compute.ErrInvalidJob, http.StatusBadRequest},
	{transfer.ErrBadLimit, http.StatusBadRequest},
	{sandbox.ErrInvalidModule, http.StatusBadRequest},
	{ledger.ErrUnknownAccount, http.StatusBadRequest},
	{ledger.ErrInvalid, http.StatusBadRequest},
	{ledger.ErrExpired, http.StatusBadRequest},
	{market.ErrInvalid, http.StatusBadRequest},
	{tunnel.ErrInvalid, http.StatusBadRequest},
	{contacts.ErrBadName, http.StatusBadRequest},
	{contacts.ErrBadDevice, http.StatusBadRequest},
	{contacts.ErrUnknownName, http.StatusBadRequest},
	{contacts.ErrSelf, http.StatusBadRequest},
	{inbox.ErrBadRequest, http.StatusBadRequest},
	{msg.ErrBadRequest, http.StatusBadRequest},
	{storage.ErrInvalid, http.StatusBadRequest},
	{storage.ErrBadRef, http.StatusBadRequest},
	{backup.ErrInvalid, http.StatusBadRequest},
	{backup.ErrBadCap, http.StatusBadRequest},
	{policy.ErrInvalid, http.StatusBadRequest},
	{policy.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{publish.ErrInvalid, http.StatusBadRequest},
	{publish.ErrBadURL, http.StatusBadRequest},

	// 3. rights and credits
	{ledger.ErrBadSignature, http.StatusForbidden},
	{publish.ErrNoSecret, http.StatusForbidden},
	{publish.ErrWrongSecret, http.StatusForbidden},
	{ledger.ErrGrantRefused, http.StatusForbidden},
	{ledger.ErrNotPermitted, http.StatusForbidden},
	{market.ErrBadSignature, http.StatusForbidden},
	{msg.ErrBlocked, http.StatusForbidden},
	{ledger.ErrInsufficientFunds, http.StatusPaymentRequired},
	{tunnel.ErrRefused, http.StatusForbidden},
	{tunnel.ErrPrice, http.StatusPaymentRequired},
	{transfer.ErrRefused, http.StatusUnavailableForLegalReasons},
	{transfer.ErrRefusedByPeer, http.StatusUnavailableForLegalReasons},
	{policy.ErrRefused, http.StatusUnavailableForLegalReasons},

	// 4. what the request names
	{share.ErrNotShared, http.StatusNotFound},
	{transfer.ErrNoDownload, http.StatusNotFound},
	{share.ErrNotFound, http.StatusNotFound},
	{compute.ErrNotFound, http.StatusNotFound},
	{market.ErrNotFound, http.StatusNotFound},
	{tunnel.ErrNotFound, http.StatusNotFound},
	{backup.ErrNotFound, http.StatusNotFound},
	{policy.ErrNotFound, http.StatusNotFound},
	{publish.ErrNotFound, http.StatusNotFound},
	{publish.ErrDeleted, http.StatusGone},
	{ledger.ErrNotFound, http.StatusNotFound},
	{msg.ErrNotFound, http.StatusNotFound},
	{inbox.ErrNoOffer, http.StatusNotFound},
	{fs.ErrNotExist, http.StatusNotFound},
	{market.ErrExpired, http.StatusGone},
	{contacts.ErrNoContact, http.StatusNotFound},
	{transfer.ErrExists, http.StatusConflict},
	{contacts.ErrNameTaken, http.StatusConflict},
	{contacts.ErrTooMany, http.StatusConflict},
	{transfer.ErrInProgress, http.StatusConflict},
	{transfer.ErrDownloadState, http.StatusConflict},
	{compute.ErrFinished, http.StatusConflict},
	{ledger.ErrNotVoter, http.StatusConflict},
	{ledger.ErrLedgerExists, http.StatusConflict},
	{ledger.ErrInvitationRefused, http.StatusConflict},
	{ledger.ErrConflict, http.StatusConflict},
	{ledger.ErrSettled, http.StatusConflict},
	{ledger.ErrListing, http.StatusConflict},
	{ledger.ErrReplayed, http.StatusConflict},
	{market.ErrMismatch, http.StatusConflict},
	{market.ErrRefunded, http.StatusConflict},
	{tunnel.ErrExists, http.StatusConflict},

	// 5. availability
	{ledger.ErrBusy, http.StatusTooManyRequests},
	{tunnel.ErrBusy, http.StatusTooManyRequests},
	{tunnel.ErrClosed, http.StatusServiceUnavailable},
	{inbox.ErrQueueFull, http.StatusTooManyRequests},
	{ledger.ErrNoLedger, http.StatusServiceUnavailable},
	{ledger.ErrNoLeader, http.StatusServiceUnavailable},
	{msg.ErrNoBundle, http.StatusServiceUnavailable},
	{transfer.ErrNoProviders, http.StatusGatewayTimeout},
	{storage.ErrNotEnoughPeers, http.StatusServiceUnavailable},
	{storage.ErrTooFewShares, http.StatusServiceUnavailable},
	{market.ErrPending, http.StatusGatewayTimeout},

	// 6. peers
	{transfer.ErrUnsafeName, http.StatusBadGateway},
	{transfer.ErrBadContent, http.StatusBadGateway},
	{transfer.ErrTooBig, http.StatusBadGateway},
	{market.ErrWrongKey, http.StatusBadGateway},
	{tunnel.ErrUnreachable, http.StatusBadGateway},
	{policy.ErrFetch, http.StatusBadGateway},
	{backup.ErrBadManifest, http.StatusBadGateway},
	{storage.ErrCorrupt, http.StatusBadGateway},
	{publish.ErrRefused, http.StatusBadGateway},
	{publish.ErrBadRecord, http.StatusBadGateway},
	{publish.ErrCorrupt, http.StatusBadGateway},
}

// statusOf maps an error to an HTTP status, deterministically: a
// [StatusError] anywhere in the chain (the first errors.As finds) sets it;
// otherwise the first entry of [errorStatuses] the error matches; otherwise
// a context deadline is 504, a cancelled request 499, and anything else 500.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	for _, e := range errorStatuses {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return 499 // client closed the request
	}
	return http.StatusInternalServerError
}
