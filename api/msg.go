package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// MsgSendRequest is the body of POST /api/v1/msg.
type MsgSendRequest struct {
	// To is a contact's name, a peer ID, or group:NAME.
	To   string `json:"to"`
	Text string `json:"text"`
}

// MsgSent answers POST /api/v1/msg: the message's id and its state
// (sent, stored, delivered).
type MsgSent struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// Message is one message of GET /api/v1/msg.
type Message struct {
	ID   string `json:"id"`
	From string `json:"from"`
	// To is a peer ID, or group:NAME.
	To   string `json:"to"`
	Text string `json:"text"`
	// Time is RFC 3339.
	Time string `json:"time"`
	// State is sent, stored, delivered or read.
	State string `json:"state"`
	// Folder is inbox or requests (a non-contact's first messages).
	Folder string `json:"folder"`
	// Out is true for a message this node sent.
	Out bool `json:"out"`
}

// MsgReadRequest is the body of POST /api/v1/msg/read.
type MsgReadRequest struct {
	With string `json:"with"`
}

// MsgRead answers POST /api/v1/msg/read.
type MsgRead struct {
	With   string `json:"with"`
	Marked int    `json:"marked"`
}

// GroupCreateRequest is the body of POST /api/v1/groups.
type GroupCreateRequest struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// GroupRemoveRequest is the body of POST /api/v1/groups/remove.
type GroupRemoveRequest struct {
	Name   string `json:"name"`
	Member string `json:"member"`
}

// Group is a group this node belongs to.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Admin   string   `json:"admin"`
	Epoch   uint32   `json:"epoch"`
	Members []string `json:"members"`
}

// MsgSend sends text to a contact's name, a peer ID or group:NAME.
func (c *Client) MsgSend(ctx context.Context, to, text string) (MsgSent, error) {
	var v MsgSent
	return v, c.Do(ctx, http.MethodPost, Prefix+"/msg", MsgSendRequest{To: to, Text: text}, &v)
}

// MsgList lists messages, oldest first: with one party (name, peer ID or
// group:NAME) when with is not empty, in one folder when folder is not.
func (c *Client) MsgList(ctx context.Context, with, folder string) ([]Message, error) {
	return c.MsgListN(ctx, with, folder, 0)
}

// MsgListN is [Client.MsgList] keeping the newest limit messages of those
// selected (the folder is filtered before the limit applies); 0: the
// daemon's bound, 1000.
func (c *Client) MsgListN(ctx context.Context, with, folder string, limit int) ([]Message, error) {
	v := url.Values{}
	if with != "" {
		v.Set("with", with)
	}
	if folder != "" {
		v.Set("folder", folder)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out []Message
	return out, c.Do(ctx, http.MethodGet, Prefix+"/msg?"+v.Encode(), nil, &out)
}

// MsgRead marks a conversation read.
func (c *Client) MsgRead(ctx context.Context, with string) (MsgRead, error) {
	var v MsgRead
	return v, c.Do(ctx, http.MethodPost, Prefix+"/msg/read", MsgReadRequest{With: with}, &v)
}

// GroupCreate creates a group with the given members.
func (c *Client) GroupCreate(ctx context.Context, name string, members []string) (Group, error) {
	var v Group
	return v, c.Do(ctx, http.MethodPost, Prefix+"/groups", GroupCreateRequest{Name: name, Members: members}, &v)
}

// Groups lists the groups this node belongs to.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	var v []Group
	return v, c.Do(ctx, http.MethodGet, Prefix+"/groups", nil, &v)
}

// GroupRemove removes a member from a group (and rekeys it).
func (c *Client) GroupRemove(ctx context.Context, name, member string) (Group, error) {
	var v Group
	return v, c.Do(ctx, http.MethodPost, Prefix+"/groups/remove", GroupRemoveRequest{Name: name, Member: member}, &v)
}

// MsgStatus answers GET /api/v1/msg/status.
type MsgStatus struct {
	// BundleReplicas is how many mailboxes took this node's prekey bundle.
	BundleReplicas int `json:"bundle_replicas"`
	// Holding is how many envelopes (ciphertext) this node keeps for
	// others as a mailbox, and HoldingBytes their size.
	Holding      int64 `json:"holding"`
	HoldingBytes int64 `json:"holding_bytes"`
	// Outbox is how many envelopes wait for delivery.
	Outbox int64 `json:"outbox"`
}

// MsgStatus reports the messages service's mailbox and queue figures.
func (c *Client) MsgStatus(ctx context.Context) (MsgStatus, error) {
	var v MsgStatus
	return v, c.Do(ctx, http.MethodGet, Prefix+"/msg/status", nil, &v)
}
