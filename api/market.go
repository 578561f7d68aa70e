package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// MarketSellRequest is the body of POST /api/v1/market/sell. Price and
// Sponsor are in credits ("2.5"); TTL is a Go duration ("720h", default 30
// days). Path and Preview are absolute paths on the daemon's machine.
type MarketSellRequest struct {
	Path        string   `json:"path"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Price       string   `json:"price"`
	Preview     string   `json:"preview,omitempty"`
	TTL         string   `json:"ttl,omitempty"`
	Sponsor     string   `json:"sponsor,omitempty"`
}

// MarketSellResult answers a sale: the listing ID and the ciphertext's CID.
type MarketSellResult struct {
	ID   string `json:"id"`
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// MarketListing is one of this node's listings (GET /api/v1/market/listings).
type MarketListing struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Description string      `json:"description,omitempty"`
	Tags        []string    `json:"tags,omitempty"`
	Price       json.Number `json:"price"`
	CID         string      `json:"cid"`
	Size        int64       `json:"size"`
	Expiry      int64       `json:"expiry"`
	Withdrawn   bool        `json:"withdrawn"`
}

// MarketResult is one verified listing found by a market search. Price is
// in credits; Rating is the seller's mean stars (0 when unrated).
type MarketResult struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Price       json.Number `json:"price"`
	Seller      string      `json:"seller"`
	CID         string      `json:"cid"`
	Rating      float64     `json:"rating"`
	Sponsored   bool        `json:"sponsored"`
	Ratings     int         `json:"ratings"`
	Size        int64       `json:"size"`
	Description string      `json:"description,omitempty"`
	Tags        []string    `json:"tags,omitempty"`
	// Created is when the listing was made (the ledger's clock when it
	// recorded it), in Unix nanoseconds.
	Created int64 `json:"created"`
}

// MarketSearch answers GET /api/v1/market/search?q=…&timeout=5s: the
// results, best first, and how many listing documents were found and
// dropped (bad signature, expired, not matching the ledger).
type MarketSearch struct {
	Results []MarketResult `json:"results"`
	Found   int            `json:"found"`
	Dropped int            `json:"dropped"`
}

// MarketBuyRequest is the body of POST /api/v1/market/buy. Output is an
// absolute path; Timeout bounds the wait for the key ("2m", default 2m).
type MarketBuyRequest struct {
	Listing string `json:"listing"`
	Output  string `json:"output"`
	Timeout string `json:"timeout,omitempty"`
}

// MarketBuyResult is a completed purchase. Price and Fee are in credits.
type MarketBuyResult struct {
	Order   string      `json:"order"`
	Listing string      `json:"listing"`
	Title   string      `json:"title,omitempty"`
	Path    string      `json:"path"`
	Size    int64       `json:"size"`
	Price   json.Number `json:"price"`
	Fee     json.Number `json:"fee"`
	Seller  string      `json:"seller"`
	// AlreadyBought reports a listing this node had bought before: the
	// answer is that earlier order, and nothing was paid now.
	AlreadyBought bool `json:"already_bought,omitempty"`
}

// MarketOrder is one purchase ("buy") or sale ("sell") and its state
// (pending, released, refunded).
type MarketOrder struct {
	ID      string      `json:"id"`
	Role    string      `json:"role"`
	Listing string      `json:"listing"`
	Title   string      `json:"title,omitempty"`
	Price   json.Number `json:"price"`
	Fee     json.Number `json:"fee"`
	Buyer   string      `json:"buyer"`
	Seller  string      `json:"seller"`
	State   string      `json:"state"`
	Reason  string      `json:"reason,omitempty"`
	Rated   bool        `json:"rated,omitempty"`
	Created int64       `json:"created"`
	// Path is where a purchase's goods were saved (this node's buy
	// orders); GET /api/v1/market/orders/{id}/file serves them once the
	// order is released.
	Path string `json:"path,omitempty"`
}

// MarketRateRequest is the body of POST /api/v1/market/orders/{id}/rate.
type MarketRateRequest struct {
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
}

// MarketSponsorRequest is the body of POST
// /api/v1/market/listings/{id}/sponsor; Amount in credits.
type MarketSponsorRequest struct {
	Amount string `json:"amount"`
}

// MarketRating is one rating on a seller's page.
type MarketRating struct {
	Order   string `json:"order"`
	Buyer   string `json:"buyer"`
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
	Time    int64  `json:"time"` // unix nanoseconds, the ledger's clock
}

// MarketSeller answers GET /api/v1/market/sellers/{id}: the seller's mean
// rating and its ratings, newest first.
type MarketSeller struct {
	Seller  string         `json:"seller"`
	Rating  float64        `json:"rating"`
	Count   int            `json:"count"`
	Ratings []MarketRating `json:"ratings"`
}

// MarketVerifyResult answers POST /api/v1/market/verify (the body is a
// listing document): the listing's ID once its signature, expiry and
// ledger record check out.
type MarketVerifyResult struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Seller string `json:"seller"`
}

// MarketSell lists a file for sale.
func (c *Client) MarketSell(ctx context.Context, req MarketSellRequest) (MarketSellResult, error) {
	var v MarketSellResult
	return v, c.Do(ctx, http.MethodPost, Prefix+"/market/sell", req, &v)
}

// MarketListings lists this node's listings.
func (c *Client) MarketListings(ctx context.Context) ([]MarketListing, error) {
	var v []MarketListing
	return v, c.Do(ctx, http.MethodGet, Prefix+"/market/listings", nil, &v)
}

// MarketWithdraw takes one of this node's listings down.
func (c *Client) MarketWithdraw(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, Prefix+"/market/listings/"+url.PathEscape(id), nil, nil)
}

// MarketSponsor pays the operator to rank a listing higher.
func (c *Client) MarketSponsor(ctx context.Context, id, amount string) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/market/listings/"+url.PathEscape(id)+"/sponsor", MarketSponsorRequest{Amount: amount}, nil)
}

// MarketSearch searches the network for listings.
func (c *Client) MarketSearch(ctx context.Context, query, timeout string) (MarketSearch, error) {
	var v MarketSearch
	q := url.Values{"q": {query}}
	if timeout != "" {
		q.Set("timeout", timeout)
	}
	return v, c.Do(ctx, http.MethodGet, Prefix+"/market/search?"+q.Encode(), nil, &v)
}

// MarketBuy buys a listing and writes the decrypted goods to req.Output.
func (c *Client) MarketBuy(ctx context.Context, req MarketBuyRequest) (MarketBuyResult, error) {
	var v MarketBuyResult
	return v, c.Do(ctx, http.MethodPost, Prefix+"/market/buy", req, &v)
}

// MarketOrders lists this node's purchases and sales.
func (c *Client) MarketOrders(ctx context.Context) ([]MarketOrder, error) {
	var v []MarketOrder
	return v, c.Do(ctx, http.MethodGet, Prefix+"/market/orders", nil, &v)
}

// MarketRate rates the seller of one of this node's completed purchases.
func (c *Client) MarketRate(ctx context.Context, order string, req MarketRateRequest) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/market/orders/"+url.PathEscape(order)+"/rate", req, nil)
}

// MarketRefund takes back the escrow of a pending order past its deadline.
func (c *Client) MarketRefund(ctx context.Context, order string) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/market/orders/"+url.PathEscape(order)+"/refund", nil, nil)
}

// MarketSeller returns a seller's page.
func (c *Client) MarketSeller(ctx context.Context, id string) (MarketSeller, error) {
	var v MarketSeller
	return v, c.Do(ctx, http.MethodGet, Prefix+"/market/sellers/"+url.PathEscape(id), nil, &v)
}

// MarketVerify checks a listing document (signature, expiry, ledger record).
func (c *Client) MarketVerify(ctx context.Context, doc json.RawMessage) (MarketVerifyResult, error) {
	var v MarketVerifyResult
	return v, c.Do(ctx, http.MethodPost, Prefix+"/market/verify", doc, &v)
}

// MarketWithdrawn answers DELETE /api/v1/market/listings/{id}.
type MarketWithdrawn struct {
	Withdrawn string `json:"withdrawn"`
}

// MarketSponsored answers POST /api/v1/market/listings/{id}/sponsor.
type MarketSponsored struct {
	Sponsored string `json:"sponsored"`
}

// MarketRated answers POST /api/v1/market/orders/{id}/rate.
type MarketRated struct {
	Rated string `json:"rated"`
}

// MarketRefunded answers POST /api/v1/market/orders/{id}/refund.
type MarketRefunded struct {
	Refunded string `json:"refunded"`
}

// MarketOrderFile opens a released purchase's goods; the caller closes it.
func (c *Client) MarketOrderFile(ctx context.Context, order string) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, Prefix+"/market/orders/"+url.PathEscape(order)+"/file", nil)
}
