package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/p2p"
)

// ClientProtocol is the request/response protocol any node uses to reach
// the ledger's voters: submit, balance, history, status, an invitation to a
// fresh voter (see Invitation), and (voters only) genesis and membership
// changes. One request per stream; each message is JSON framed by
// p2p.WriteMsg (a uvarint length followed by that many bytes), at most
// maxFrame.
const ClientProtocol protocol.ID = "/peerpath/ledger/client/1.0.0"

const maxFrame = 1 << 20

// Client protocol operations.
const (
	opSubmit  = "submit"
	opBalance = "balance"
	opHistory = "history"
	opStatus  = "status"
	opGenesis = "genesis"
	opAdd     = "add_voter"
	opRemove  = "remove_voter"
	opListing = "market_listing"
	opOrder   = "market_order"
	opOrders  = "market_orders"
	opRatings = "market_ratings"
	opInvite  = "invite"
)

type clientRequest struct {
	Op       string          `json:"op"`
	Transfer *SignedTransfer `json:"transfer,omitempty"`
	Account  string          `json:"account,omitempty"`
	Limit    int             `json:"limit,omitempty"`
	Genesis  *Genesis        `json:"genesis,omitempty"`
	Peer     string          `json:"peer,omitempty"`
	// Invitation asks a fresh voter to join a ledger (opInvite).
	Invitation *Invitation `json:"invitation,omitempty"`
	// Ref names the listing or order of a market query.
	Ref string `json:"ref,omitempty"`
	// Forwarded is set by a voter passing a request on to the leader; a
	// voter that is not the leader answers it with errNotLeader instead of
	// forwarding again, so requests never loop.
	Forwarded bool `json:"forwarded,omitempty"`
}

type clientResponse struct {
	Code    int            `json:"code,omitempty"` // index in errCodes; -1: other error
	Error   string         `json:"error,omitempty"`
	Leader  string         `json:"leader,omitempty"` // hint, with errNotLeader
	Receipt *Receipt       `json:"receipt,omitempty"`
	Balance int64          `json:"balance,omitempty"`
	History []Transfer     `json:"history,omitempty"`
	Status  *Status        `json:"status,omitempty"`
	Listing *MarketListing `json:"listing,omitempty"`
	Order   *Order         `json:"order,omitempty"`
	Orders  []Order        `json:"orders,omitempty"`
	Ratings []Rating       `json:"ratings,omitempty"`
}

// remoteError is an error returned by a remote node; it unwraps to the
// sentinel with the same code, so errors.Is works across the wire.
type remoteError struct {
	msg      string
	sentinel error
}

// Error is the remote message.
func (e *remoteError) Error() string { return e.msg }

// Unwrap is the sentinel for the remote code (nil if none).
func (e *remoteError) Unwrap() error { return e.sentinel }

func (r *clientResponse) err() error {
	if r.Code == 0 && r.Error == "" {
		return nil
	}
	msg := r.Error
	if msg == "" {
		msg = "ledger: remote error"
	}
	return &remoteError{msg: msg, sentinel: codeErr(r.Code)}
}

func responseFor(err error) clientResponse {
	if err == nil {
		return clientResponse{}
	}
	return clientResponse{Code: errCode(err), Error: err.Error()}
}

// writeFrame writes one message of the client protocol: v as JSON, framed
// by p2p.WriteMsg (a uvarint length, then the body).
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ledger: encode frame: %w", err)
	}
	if len(body) > maxFrame {
		return fmt.Errorf("ledger: frame of %d bytes over limit", len(body))
	}
	if err := p2p.WriteMsg(w, body); err != nil {
		return fmt.Errorf("ledger: write frame: %w", err)
	}
	return nil
}

// readFrame reads one message body written by writeFrame (p2p.ReadMsg),
// checking the length against maxFrame before reading it.
func readFrame(r io.Reader) ([]byte, error) {
	body, err := p2p.ReadMsg(r, maxFrame)
	if err != nil {
		return nil, fmt.Errorf("ledger: read frame: %w", err)
	}
	return body, nil
}

var errBadRequest = errors.New("ledger: bad request")

// decodeRequest parses and bounds-checks a client request.
func decodeRequest(body []byte) (clientRequest, error) {
	var req clientRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return clientRequest{}, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	switch req.Op {
	case opSubmit:
		if req.Transfer == nil {
			return clientRequest{}, fmt.Errorf("%w: submit without transfer", errBadRequest)
		}
		if err := req.Transfer.Validate(); err != nil {
			return clientRequest{}, err
		}
		if len(req.Transfer.Sig) > maxSigLen {
			return clientRequest{}, fmt.Errorf("%w: signature too long", ErrBadSignature)
		}
	case opBalance, opHistory:
		if req.Account == "" || len(req.Account) > maxAccountLen {
			return clientRequest{}, fmt.Errorf("%w: account", errBadRequest)
		}
		if req.Limit < 0 {
			return clientRequest{}, fmt.Errorf("%w: negative limit", errBadRequest)
		}
	case opStatus:
	case opListing, opOrder:
		if req.Ref == "" || len(req.Ref) > maxRefLen {
			return clientRequest{}, fmt.Errorf("%w: ref", errBadRequest)
		}
	case opOrders, opRatings:
		if req.Account == "" || len(req.Account) > maxAccountLen {
			return clientRequest{}, fmt.Errorf("%w: account", errBadRequest)
		}
	case opGenesis:
		if req.Genesis == nil {
			return clientRequest{}, fmt.Errorf("%w: genesis missing", errBadRequest)
		}
		if err := req.Genesis.Validate(); err != nil {
			return clientRequest{}, err
		}
	case opAdd, opRemove:
		if req.Peer == "" || len(req.Peer) > maxAccountLen {
			return clientRequest{}, fmt.Errorf("%w: peer", errBadRequest)
		}
	case opInvite:
		if req.Invitation == nil {
			return clientRequest{}, fmt.Errorf("%w: invitation missing", errBadRequest)
		}
		if err := req.Invitation.checkShape(); err != nil {
			return clientRequest{}, err
		}
	default:
		return clientRequest{}, fmt.Errorf("%w: op %q", errBadRequest, req.Op)
	}
	return req, nil
}

// decodeResponse parses a client response.
func decodeResponse(body []byte) (clientResponse, error) {
	var resp clientResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return clientResponse{}, fmt.Errorf("ledger: bad response: %w", err)
	}
	if len(resp.History) > historyLimit {
		return clientResponse{}, fmt.Errorf("ledger: bad response: %d history entries", len(resp.History))
	}
	if len(resp.Orders) > maxOrdersReply || len(resp.Ratings) > ratingsLimit {
		return clientResponse{}, fmt.Errorf("ledger: bad response: %d orders, %d ratings", len(resp.Orders), len(resp.Ratings))
	}
	return resp, nil
}
