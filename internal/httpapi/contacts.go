package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/contacts"
	"github.com/peerpath/peerpath/internal/inbox"
)

// Contacts is the address book, this node's name, presence and
// neighbours (*contacts.Service).
type Contacts interface {
	Self() contacts.Profile
	SetProfile(ctx context.Context, name, device string) (contacts.Profile, error)
	SetInvisible(ctx context.Context, invisible bool) (contacts.Profile, error)
	Add(ctx context.Context, id peer.ID, name string) (contacts.Contact, error)
	Remove(ctx context.Context, nameOrID string) (contacts.Contact, error)
	List(ctx context.Context) ([]contacts.Contact, error)
	Neighbours() []contacts.Neighbour
	// Resolve turns a contact's name or a peer ID into a peer ID.
	Resolve(nameOrID string) (peer.ID, error)
	Label(id peer.ID) contacts.Label
}

// Inbox sends files to peers and receives theirs (*inbox.Service).
type Inbox interface {
	Send(ctx context.Context, to peer.ID, paths []string) (inbox.Outgoing, error)
	Sends(ctx context.Context) ([]inbox.Outgoing, error)
	Received(ctx context.Context) ([]inbox.Incoming, error)
	Policy() inbox.Policy
	SetPolicy(ctx context.Context, mode string, d time.Duration) (inbox.Policy, error)
	SendUpload(ctx context.Context, to peer.ID, name string, r io.Reader) (inbox.Outgoing, error)
	Pending() []inbox.Pending
	Accept(ctx context.Context, id string) (inbox.Pending, error)
	Decline(ctx context.Context, id string) (inbox.Pending, error)
}

// resolverKey carries the node's peer resolver in every request's context
// (see [Server.ServeHTTP]), so that every route taking a peer reads it
// through [parsePeer]: one place decides what "NAME or PEERID" means.
type resolverKey struct{}

// parsePeer reads a route's peer argument: a contact's name (when the
// node has contacts) or a peer ID. Only this node's own petnames resolve;
// a name a peer announces for itself never does.
func parsePeer(r *http.Request, s string) (peer.ID, error) {
	if c, ok := r.Context().Value(resolverKey{}).(Contacts); ok {
		id, err := c.Resolve(s)
		if err != nil {
			return "", BadRequest(fmt.Errorf("%q is neither a peer ID nor the name of a contact (see peerpath contacts)", s))
		}
		return id, nil
	}
	id, err := peer.Decode(strings.TrimSpace(s))
	if err != nil {
		return "", BadRequest(fmt.Errorf("bad peer ID %q: %w", s, err))
	}
	return id, nil
}

// labelOf is the label of id, or its full id without contacts.
func labelOf(c Contacts, id peer.ID) string {
	if c == nil {
		return id.String()
	}
	return c.Label(id).Text
}

func profile(id peer.ID, p contacts.Profile) api.Profile {
	return api.Profile{ID: id.String(), Name: p.Name, Device: p.Device, Invisible: p.Invisible}
}

func contactOut(c contacts.Contact) api.Contact {
	out := api.Contact{ID: c.ID.String(), Name: c.Name, Online: c.Online, Suggested: c.Suggested, Device: c.Device}
	if !c.LastSeen.IsZero() {
		t := c.LastSeen.UTC().Truncate(time.Second)
		out.LastSeen = &t
	}
	return out
}

// maxLabels bounds the ids of one labels request.
const maxLabels = 1000

// contactRoutes serves names, contacts, presence, neighbours and labels.
func contactRoutes(c Contacts, self Self) []route {
	return []route{
		{pattern: "GET /api/v1/name", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			return profile(self.ID(), c.Self()), nil
		}},
		{pattern: "PUT /api/v1/name", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ProfileRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			p, err := c.SetProfile(r.Context(), req.Name, req.Device)
			if err != nil {
				return nil, err
			}
			return profile(self.ID(), p), nil
		}},
		{pattern: "PUT /api/v1/presence", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PresenceRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			p, err := c.SetInvisible(r.Context(), req.Invisible)
			if err != nil {
				return nil, err
			}
			return profile(self.ID(), p), nil
		}},
		{pattern: "GET /api/v1/contacts", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			cs, err := c.List(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.Contact, 0, len(cs))
			for _, x := range cs {
				out = append(out, contactOut(x))
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/contacts", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ContactRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			id, err := parsePeer(r, req.ID)
			if err != nil {
				return nil, err
			}
			x, err := c.Add(r.Context(), id, req.Name)
			if err != nil {
				return nil, err
			}
			return contactOut(x), nil
		}},
		{pattern: "DELETE /api/v1/contacts", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			x, err := c.Remove(r.Context(), r.URL.Query().Get("contact"))
			if err != nil {
				return nil, err
			}
			return contactOut(x), nil
		}},
		{pattern: "GET /api/v1/neighbours", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ns := c.Neighbours()
			out := make([]api.Neighbour, 0, len(ns))
			for _, n := range ns {
				out = append(out, api.Neighbour{ID: n.ID.String(), Name: n.Name, Device: n.Device,
					Contact: n.Contact != "", ContactName: n.Contact, Label: c.Label(n.ID).Text})
			}
			return out, nil
		}},
		// GET /api/v1/labels?id=A&id=B: how to show each peer (the web
		// app's tables). Ids that do not parse are left out.
		{pattern: "GET /api/v1/labels", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ids := r.URL.Query()["id"]
			if len(ids) > maxLabels {
				return nil, BadRequest(fmt.Errorf("at most %d ids", maxLabels))
			}
			out := make([]api.Label, 0, len(ids))
			for _, s := range ids {
				id, err := peer.Decode(s)
				if err != nil {
					continue
				}
				l := c.Label(id)
				out = append(out, api.Label{ID: s, Text: l.Text, Kind: l.Kind, Name: l.Name})
			}
			return out, nil
		}},
	}
}

func sendOut(c Contacts, o inbox.Outgoing) api.FileSend {
	out := api.FileSend{ID: o.ID, To: o.To.String(), ToLabel: labelOf(c, o.To), State: o.State, Reason: o.Reason,
		Files: sentFiles(o.Files), Created: o.Created.UTC(), Updated: o.Updated.UTC()}
	return out
}

func sentFiles(fs []inbox.File) []api.SentFile {
	out := make([]api.SentFile, 0, len(fs))
	for _, f := range fs {
		out = append(out, api.SentFile{Name: f.Name, CID: f.CID, Size: f.Size})
	}
	return out
}

func pendingOut(c Contacts, p inbox.Pending) api.PendingOffer {
	out := api.PendingOffer{ID: p.ID, From: p.From.String(), FromLabel: labelOf(c, p.From),
		Files: sentFiles(p.Files), Time: p.Time.UTC(), Expires: p.Expires.UTC()}
	if c != nil {
		out.Name = c.Label(p.From).Name
	}
	return out
}

func policyOut(p inbox.Policy) api.ReceivePolicy {
	out := api.ReceivePolicy{Policy: p.Mode}
	if !p.Until.IsZero() {
		t := p.Until.UTC()
		out.Until = &t
	}
	return out
}

// inboxRoutes serves sending and receiving files.
func inboxRoutes(in Inbox, c Contacts) []route {
	return []route{
		{pattern: "POST /api/v1/send", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.FileSendRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			to, err := parsePeer(r, req.To)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
			defer cancel()
			o, err := in.Send(ctx, to, req.Paths)
			if err != nil {
				return nil, err
			}
			return sendOut(c, o), nil
		}},
		// POST /api/v1/send/upload?to=NAME|PEERID&name=FILE with the file's
		// bytes as the body: the web app's drag and drop. The daemon keeps
		// the file in HOME/outbox and sends it.
		{pattern: "POST /api/v1/send/upload", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			q := r.URL.Query()
			to, err := parsePeer(r, q.Get("to"))
			if err != nil {
				return nil, err
			}
			body := http.MaxBytesReader(w, r.Body, inbox.MaxUpload)
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
			defer cancel()
			o, err := in.SendUpload(ctx, to, q.Get("name"), body)
			if err != nil {
				return nil, err
			}
			return sendOut(c, o), nil
		}},
		{pattern: "GET /api/v1/sends", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			os, err := in.Sends(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.FileSend, 0, len(os))
			for _, o := range os {
				out = append(out, sendOut(c, o))
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/received", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			is, err := in.Received(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.FileOffer, 0, len(is))
			for _, x := range is {
				out = append(out, api.FileOffer{ID: x.ID, From: x.From.String(), FromLabel: labelOf(c, x.From),
					Accepted: x.Accepted, Reason: x.Reason, Files: sentFiles(x.Files), Time: x.Time.UTC()})
			}
			return out, nil
		}},
		// The offers waiting for this node's owner (a stranger's, under
		// the contacts policy), oldest first; accept or decline each by id.
		{pattern: "GET /api/v1/receive/pending", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ps := in.Pending()
			out := make([]api.PendingOffer, 0, len(ps))
			for _, p := range ps {
				out = append(out, pendingOut(c, p))
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/receive/pending/{id}/accept", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			p, err := in.Accept(r.Context(), r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			return pendingOut(c, p), nil
		}},
		{pattern: "POST /api/v1/receive/pending/{id}/decline", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			p, err := in.Decline(r.Context(), r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			return pendingOut(c, p), nil
		}},
		{pattern: "GET /api/v1/receive/policy", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			return policyOut(in.Policy()), nil
		}},
		{pattern: "PUT /api/v1/receive/policy", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ReceivePolicy
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			var d time.Duration
			if req.For != "" {
				var err error
				if d, err = time.ParseDuration(req.For); err != nil {
					return nil, BadRequest(fmt.Errorf("bad duration %q (want e.g. 10m)", req.For))
				}
			}
			p, err := in.SetPolicy(r.Context(), req.Policy, d)
			if err != nil {
				return nil, err
			}
			return policyOut(p), nil
		}},
	}
}
