package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// StorageOfferRequest is the body of POST /api/v1/storage/offer.
type StorageOfferRequest struct {
	// Size is the space offered to other peers, in bytes; 0 withdraws the offer.
	Size int64 `json:"size"`
	// PricePerGiBMonth is in credits ("0.5"); empty or "0" stores for free.
	PricePerGiBMonth string `json:"price_per_gib_month,omitempty"`
	// PerClient bounds what one peer may store here, in bytes; 0 means half the offer.
	PerClient int64 `json:"per_client,omitempty"`
}

// StorageClient is what one peer stores on this node.
type StorageClient struct {
	Peer   string      `json:"peer"`
	Shares int         `json:"shares"`
	Bytes  int64       `json:"bytes"`
	Paid   json.Number `json:"paid"`
}

// Storage answers GET /api/v1/storage and POST /api/v1/storage/offer.
type Storage struct {
	Offered          int64           `json:"offered"`
	Used             int64           `json:"used"`
	Shares           int             `json:"shares"`
	PricePerGiBMonth json.Number     `json:"price_per_gib_month"`
	PerClient        int64           `json:"per_client"`
	Clients          []StorageClient `json:"clients"`
	Earned           json.Number     `json:"earned"`
	// OwnedObjects and OwnedShares are this node's own data on other peers.
	OwnedObjects int `json:"owned_objects"`
	OwnedShares  int `json:"owned_shares"`
}

// StorageCheck answers POST /api/v1/storage/check: every owned object's
// holders challenged, and what was repaired.
type StorageCheck struct {
	Objects  int `json:"objects"`
	Healthy  int `json:"healthy"`
	Repaired int `json:"repaired"`
	Failing  int `json:"failing"`
	// RepairIn and RepairOut are the repair's traffic in bytes: healthy
	// shares fetched to rebuild (about k × the bytes rebuilt), rebuilt
	// shares placed.
	RepairIn  int64 `json:"repair_in_bytes"`
	RepairOut int64 `json:"repair_out_bytes"`
}

// Storage returns what this node offers, stores and earns.
func (c *Client) Storage(ctx context.Context) (Storage, error) {
	var v Storage
	return v, c.Do(ctx, http.MethodGet, Prefix+"/storage", nil, &v)
}

// StorageOffer sets what this node stores for others.
func (c *Client) StorageOffer(ctx context.Context, req StorageOfferRequest) (Storage, error) {
	var v Storage
	return v, c.Do(ctx, http.MethodPost, Prefix+"/storage/offer", req, &v)
}

// StorageCheck challenges the holders of every owned object now and
// repairs what needs it.
func (c *Client) StorageCheck(ctx context.Context) (StorageCheck, error) {
	var v StorageCheck
	return v, c.Do(ctx, http.MethodPost, Prefix+"/storage/check", nil, &v)
}
