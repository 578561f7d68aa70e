package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Profile is this node's display name, device type and presence setting
// (GET/PUT /api/v1/name, PUT /api/v1/presence).
type Profile struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Device    string `json:"device"`
	Invisible bool   `json:"invisible"`
}

// ProfileRequest sets the display name and device type (PUT /api/v1/name).
type ProfileRequest struct {
	Name   string `json:"name"`
	Device string `json:"device,omitempty"`
}

// PresenceRequest sets whether contacts see this node online
// (PUT /api/v1/presence).
type PresenceRequest struct {
	Invisible bool `json:"invisible"`
}

// Contact is one contact (GET /api/v1/contacts, one a line in
// `peerpath contacts --json`). Name is the local petname; Suggested is the
// name the peer announces for itself (unverified).
type Contact struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Online    bool       `json:"online"`
	LastSeen  *time.Time `json:"last_seen"`
	Suggested string     `json:"suggested_name,omitempty"`
	Device    string     `json:"device,omitempty"`
}

// ContactRequest adds or renames a contact (POST /api/v1/contacts); ID is
// a peer ID (or a contact's current name, to rename it).
type ContactRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Neighbour is a peer on the LAN (GET /api/v1/neighbours). Name and
// Device are what the peer announces (unverified); ContactName is this
// node's petname for it when it is a contact.
type Neighbour struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Device      string `json:"device"`
	Contact     bool   `json:"contact"`
	ContactName string `json:"contact_name,omitempty"`
	Label       string `json:"label"`
}

// Label is how to show a peer (GET /api/v1/labels?id=…): Kind is
// "contact" (Text is the petname), "unverified" (the peer's own name, with
// its short id), "self", or "id" (the short id).
type Label struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

// FileSendRequest offers files to a peer (POST /api/v1/send); To is a
// contact's name or a peer ID, Paths are paths on the daemon's machine.
type FileSendRequest struct {
	To    string   `json:"to"`
	Paths []string `json:"paths"`
}

// SentFile is one file of a send.
type SentFile struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// FileSend is one send (POST /api/v1/send, GET /api/v1/sends). State is
// queued (the peer is offline; it goes when the peer comes online),
// pending (the peer's owner has yet to accept or decline), accepted,
// refused (Reason says why) or expired (Reason says why).
type FileSend struct {
	ID      string     `json:"id"`
	To      string     `json:"to"`
	ToLabel string     `json:"to_label"`
	State   string     `json:"state"`
	Reason  string     `json:"reason,omitempty"`
	Files   []SentFile `json:"files"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
}

// FileOffer is one offer received (GET /api/v1/received).
type FileOffer struct {
	ID        string     `json:"id"`
	From      string     `json:"from"`
	FromLabel string     `json:"from_label"`
	Accepted  bool       `json:"accepted"`
	Reason    string     `json:"reason,omitempty"`
	Files     []SentFile `json:"files"`
	Time      time.Time  `json:"time"`
}

// PendingOffer is an offer waiting for this node's owner to accept or
// decline it (GET /api/v1/receive/pending). ID is this node's id for it;
// Name is the sender's own, unverified, name if it gave one.
type PendingOffer struct {
	ID        string     `json:"id"`
	From      string     `json:"from"`
	FromLabel string     `json:"from_label"`
	Name      string     `json:"name,omitempty"`
	Files     []SentFile `json:"files"`
	Time      time.Time  `json:"time"`
	Expires   time.Time  `json:"expires"`
}

// ReceivePolicy is who may send this node files
// (GET/PUT /api/v1/receive/policy): contacts, everyone (until Until) or
// nobody. In a PUT, For is the duration of an everyone policy (e.g. "10m").
type ReceivePolicy struct {
	Policy string     `json:"policy"`
	Until  *time.Time `json:"until,omitempty"`
	For    string     `json:"for,omitempty"`
}

// Name returns this node's profile.
func (c *Client) Name(ctx context.Context) (Profile, error) {
	var out Profile
	return out, c.Do(ctx, http.MethodGet, Prefix+"/name", nil, &out)
}

// SetName sets this node's display name and device type.
func (c *Client) SetName(ctx context.Context, req ProfileRequest) (Profile, error) {
	var out Profile
	return out, c.Do(ctx, http.MethodPut, Prefix+"/name", req, &out)
}

// SetPresence sets whether contacts see this node online.
func (c *Client) SetPresence(ctx context.Context, req PresenceRequest) (Profile, error) {
	var out Profile
	return out, c.Do(ctx, http.MethodPut, Prefix+"/presence", req, &out)
}

// Contacts lists the contacts.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	var out []Contact
	return out, c.Do(ctx, http.MethodGet, Prefix+"/contacts", nil, &out)
}

// AddContact adds or renames a contact.
func (c *Client) AddContact(ctx context.Context, req ContactRequest) (Contact, error) {
	var out Contact
	return out, c.Do(ctx, http.MethodPost, Prefix+"/contacts", req, &out)
}

// RemoveContact removes the contact of that name or peer ID.
func (c *Client) RemoveContact(ctx context.Context, nameOrID string) (Contact, error) {
	var out Contact
	return out, c.Do(ctx, http.MethodDelete, Prefix+"/contacts?contact="+url.QueryEscape(nameOrID), nil, &out)
}

// Neighbours lists the peers on the LAN.
func (c *Client) Neighbours(ctx context.Context) ([]Neighbour, error) {
	var out []Neighbour
	return out, c.Do(ctx, http.MethodGet, Prefix+"/neighbours", nil, &out)
}

// Labels returns how to show each of ids.
func (c *Client) Labels(ctx context.Context, ids []string) ([]Label, error) {
	q := url.Values{"id": ids}
	var out []Label
	return out, c.Do(ctx, http.MethodGet, Prefix+"/labels?"+q.Encode(), nil, &out)
}

// SendFiles offers files to a peer.
func (c *Client) SendFiles(ctx context.Context, req FileSendRequest) (FileSend, error) {
	var out FileSend
	return out, c.Do(ctx, http.MethodPost, Prefix+"/send", req, &out)
}

// Sends lists the sends of this node, newest first.
func (c *Client) Sends(ctx context.Context) ([]FileSend, error) {
	var out []FileSend
	return out, c.Do(ctx, http.MethodGet, Prefix+"/sends", nil, &out)
}

// Received lists the offers this node received, newest first.
func (c *Client) Received(ctx context.Context) ([]FileOffer, error) {
	var out []FileOffer
	return out, c.Do(ctx, http.MethodGet, Prefix+"/received", nil, &out)
}

// PendingOffers lists the offers waiting for an answer, oldest first.
func (c *Client) PendingOffers(ctx context.Context) ([]PendingOffer, error) {
	var out []PendingOffer
	return out, c.Do(ctx, http.MethodGet, Prefix+"/receive/pending", nil, &out)
}

// AcceptOffer accepts the waiting offer id: its files are downloaded.
func (c *Client) AcceptOffer(ctx context.Context, id string) (PendingOffer, error) {
	var out PendingOffer
	return out, c.Do(ctx, http.MethodPost, Prefix+"/receive/pending/"+url.PathEscape(id)+"/accept", nil, &out)
}

// DeclineOffer declines the waiting offer id.
func (c *Client) DeclineOffer(ctx context.Context, id string) (PendingOffer, error) {
	var out PendingOffer
	return out, c.Do(ctx, http.MethodPost, Prefix+"/receive/pending/"+url.PathEscape(id)+"/decline", nil, &out)
}

// ReceivePolicy returns who may send this node files.
func (c *Client) ReceivePolicy(ctx context.Context) (ReceivePolicy, error) {
	var out ReceivePolicy
	return out, c.Do(ctx, http.MethodGet, Prefix+"/receive/policy", nil, &out)
}

// SetReceivePolicy sets who may send this node files.
func (c *Client) SetReceivePolicy(ctx context.Context, req ReceivePolicy) (ReceivePolicy, error) {
	var out ReceivePolicy
	return out, c.Do(ctx, http.MethodPut, Prefix+"/receive/policy", req, &out)
}
