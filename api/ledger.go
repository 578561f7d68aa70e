package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Balance answers GET /api/v1/wallet. Balance is in credits, written
// exactly (a JSON number with up to six decimals).
type Balance struct {
	Account string      `json:"account"`
	Balance json.Number `json:"balance"`
}

// SendRequest is the body of POST /api/v1/wallet/send. Amount is in
// credits ("2.5").
type SendRequest struct {
	To     string `json:"to"`
	Amount string `json:"amount"`
	Memo   string `json:"memo,omitempty"`
	Ref    string `json:"ref,omitempty"`
	// ID makes a retry safe: the same ID applies at most once. Empty: the
	// node picks a new one.
	ID string `json:"id,omitempty"`
}

// Receipt is the outcome of an applied transfer. Amount and Fee are in
// credits.
type Receipt struct {
	ID     string      `json:"id"`
	Index  uint64      `json:"index"`
	Amount json.Number `json:"amount"`
	Fee    json.Number `json:"fee"`
	Replay bool        `json:"replay,omitempty"`
}

// Transfer is one entry of a wallet's history. Amount is in credits.
type Transfer struct {
	ID     string      `json:"id"`
	Kind   string      `json:"kind"`
	From   string      `json:"from,omitempty"`
	To     string      `json:"to"`
	Amount json.Number `json:"amount"`
	Memo   string      `json:"memo,omitempty"`
	Ref    string      `json:"ref,omitempty"`
	Time   int64       `json:"time"`
	// Fee, in a history entry, is the operator fee the payer of a transfer
	// or a purchase paid on top of Amount (empty when none).
	Fee json.Number `json:"fee,omitempty"`
}

// LedgerStatus answers GET /api/v1/ledger/status.
type LedgerStatus struct {
	Leader      string   `json:"leader"`
	Voters      []string `json:"voters"`
	CommitIndex uint64   `json:"commit_index"`
	// Note says why there is no ledger (no leader, no voters) when this
	// node belongs to none.
	Note string `json:"note,omitempty"`
}

// LedgerCreateRequest is the body of POST /api/v1/ledger/create. Genesis is
// the genesis file's JSON ({"PEERID": credits, …} or the long form).
type LedgerCreateRequest struct {
	Voters  []string        `json:"voters"`
	Genesis json.RawMessage `json:"genesis"`
}

// VoterRequest is the body of POST and DELETE /api/v1/ledger/voters.
type VoterRequest struct {
	ID string `json:"id"`
}

// Balance returns account's balance; empty account means this node's.
func (c *Client) Balance(ctx context.Context, account string) (Balance, error) {
	var v Balance
	return v, c.Do(ctx, http.MethodGet, Prefix+"/wallet?account="+url.QueryEscape(account), nil, &v)
}

// Send pays credits from this node's account.
func (c *Client) Send(ctx context.Context, req SendRequest) (Receipt, error) {
	var v Receipt
	return v, c.Do(ctx, http.MethodPost, Prefix+"/wallet/send", req, &v)
}

// History lists the transfers of account (empty: this node's), newest first.
func (c *Client) History(ctx context.Context, account string, limit int) ([]Transfer, error) {
	var v []Transfer
	return v, c.Do(ctx, http.MethodGet, Prefix+"/wallet/history?account="+url.QueryEscape(account)+"&limit="+strconv.Itoa(limit), nil, &v)
}

// LedgerStatus returns the ledger's leader, voters and commit index.
func (c *Client) LedgerStatus(ctx context.Context) (LedgerStatus, error) {
	var v LedgerStatus
	return v, c.Do(ctx, http.MethodGet, Prefix+"/ledger/status", nil, &v)
}

// LedgerCreate creates a new ledger; the node must be one of the voters.
func (c *Client) LedgerCreate(ctx context.Context, req LedgerCreateRequest) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/ledger/create", req, nil)
}

// PeerUsage is what this node gave to and took from one peer: chunk bytes,
// compute units, traffic receipts and their payments (credits).
type PeerUsage struct {
	Peer         string      `json:"peer"`
	Uploaded     int64       `json:"uploaded"`
	Downloaded   int64       `json:"downloaded"`
	UnitsRun     int64       `json:"units_run"`
	UnitsUsed    int64       `json:"units_used"`
	ReceiptedIn  int64       `json:"receipted_in"`
	ReceiptedOut int64       `json:"receipted_out"`
	PaidIn       json.Number `json:"paid_in"`
	BilledOut    json.Number `json:"billed_out"`
	// Class is the peer's rank for scarce upload: "pays", "reciprocates"
	// or "other".
	Class string `json:"class"`
}

// Meter answers GET /api/v1/meter.
type Meter struct {
	// PricePerGiB is this node's traffic price in credits ("0": billing off).
	PricePerGiB json.Number `json:"price_per_gib"`
	// Receipts counts the traffic receipts received, by state: evidence
	// (no payment), pending, settled, failed.
	Receipts map[string]int `json:"receipts"`
	Peers    []PeerUsage    `json:"peers"`
	// Services holds the bytes per shared service and peer (see
	// ServiceUsage); absent on a node without the tunnel service.
	Services []ServiceUsage `json:"services,omitempty"`
}

// Meter returns this node's per-peer usage and receipts.
func (c *Client) Meter(ctx context.Context) (Meter, error) {
	var v Meter
	return v, c.Do(ctx, http.MethodGet, Prefix+"/meter", nil, &v)
}

// LedgerCreated answers POST /api/v1/ledger/create: the supply the genesis
// created, in credits.
type LedgerCreated struct {
	Created bool        `json:"created"`
	Supply  json.Number `json:"supply"`
}

// VoterAdded answers POST /api/v1/ledger/voters.
type VoterAdded struct {
	Added string `json:"added"`
}

// VoterRemoved answers DELETE /api/v1/ledger/voters.
type VoterRemoved struct {
	Removed string `json:"removed"`
}

// AddVoter makes a peer a ledger voter.
func (c *Client) AddVoter(ctx context.Context, id string) (VoterAdded, error) {
	var v VoterAdded
	return v, c.Do(ctx, http.MethodPost, Prefix+"/ledger/voters", VoterRequest{ID: id}, &v)
}

// RemoveVoter removes a ledger voter.
func (c *Client) RemoveVoter(ctx context.Context, id string) (VoterRemoved, error) {
	var v VoterRemoved
	return v, c.Do(ctx, http.MethodDelete, Prefix+"/ledger/voters", VoterRequest{ID: id}, &v)
}
