package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
)

// Invitations: how a voter that was told nothing learns whom to trust.
//
// A voter takes raft traffic only from the voters of its raft
// configuration. A fresh voter has none, so before Create (or AddVoter)
// makes raft reach it, the creator sends it an [Invitation] over
// ClientProtocol: the voter set and the ledger's genesis hash, signed by
// the inviter. The fresh voter accepts it only when all of these hold:
//
//   - it runs as a voter and has no raft state (no ledger, not joined one);
//   - the invitation is signed by the peer that sent it, and lists both that
//     peer and this node;
//   - it trusts the inviter: the inviter is in Config.Voters (the daemon's
//     --ledger-voters) when that is set, or else one of Config.Inviters (the
//     daemon's --bootstrap peers); a stranger is never trusted;
//   - it has accepted no invitation from another inviter before (the first
//     trusted inviter keeps the node: it may send an updated invitation,
//     say after a Create that another voter refused; nobody else may,
//     unless the operator has since named that one, and not the first, in
//     Config.Voters).
//
// An accepted invitation is written to Config.Dir (invitation.json) before
// the answer goes back, and from then on only the peers it lists may speak
// raft to this node, until raft's own configuration takes over. An
// invitation to a voter that already has raft state is accepted only when it
// names exactly that voter set (a resumed Create), and changes nothing.
//
// The inviter asks every listed voter before it bootstraps anything, so a
// refusal leaves no half-made ledger behind: Create fails at once, naming
// the voter that refused and the flag that fixes it.

// InvitationFile is the name, inside Config.Dir, of the invitation a
// fresh voter accepted.
const InvitationFile = "invitation.json"

// maxInviteVoters bounds the voter set an invitation may list.
const maxInviteVoters = 64

const inviteDomain = "peerpath/ledger/invitation/v1\n"

// Invitation asks a fresh voter to take part in a ledger: Voters (peer ID
// strings, sorted, no duplicates) are the ledger's voters, Genesis the hex
// SHA-256 of its genesis log entry ([Genesis.Hash]), Inviter the peer that
// signs and sends it.
type Invitation struct {
	Inviter string   `json:"inviter"`
	Voters  []string `json:"voters"`
	Genesis string   `json:"genesis"`
	Time    int64    `json:"time"`
	Sig     []byte   `json:"sig"`
}

func (inv *Invitation) signingBytes() []byte {
	b := append([]byte(nil), inviteDomain...)
	b = appendString(b, inv.Inviter)
	b = appendString(b, inv.Genesis)
	b = binary.BigEndian.AppendUint64(b, uint64(inv.Time))
	b = binary.AppendUvarint(b, uint64(len(inv.Voters)))
	for _, v := range inv.Voters {
		b = appendString(b, v)
	}
	return b
}

// NewInvitation builds and signs with key (the inviter's) an invitation to
// the ledger of voters whose genesis hash is genesis.
func NewInvitation(key crypto.PrivKey, voters []peer.ID, genesis string) (Invitation, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Invitation{}, fmt.Errorf("ledger: invitation: %w", err)
	}
	inv := Invitation{Inviter: id.String(), Genesis: genesis, Time: time.Now().UnixNano()}
	for _, v := range voters {
		inv.Voters = append(inv.Voters, v.String())
	}
	slices.Sort(inv.Voters)
	inv.Voters = slices.Compact(inv.Voters)
	if err := inv.checkShape(); err != nil {
		return Invitation{}, err
	}
	if inv.Sig, err = key.Sign(inv.signingBytes()); err != nil {
		return Invitation{}, fmt.Errorf("ledger: invitation: %w", err)
	}
	return inv, nil
}

// checkShape checks sizes and forms without the signature.
func (inv *Invitation) checkShape() error {
	bad := func(what string) error { return fmt.Errorf("%w: invitation %s", errBadRequest, what) }
	if len(inv.Voters) == 0 || len(inv.Voters) > maxInviteVoters {
		return bad("voter count")
	}
	if len(inv.Genesis) != 2*sha256.Size {
		return bad("genesis hash")
	}
	if _, err := hex.DecodeString(inv.Genesis); err != nil {
		return bad("genesis hash")
	}
	if len(inv.Sig) > maxSigLen {
		return bad("signature length")
	}
	for i, v := range inv.Voters {
		if len(v) > maxAccountLen {
			return bad("voter")
		}
		if _, err := peer.Decode(v); err != nil {
			return bad("voter")
		}
		if i > 0 && inv.Voters[i-1] >= v {
			return bad("voters not sorted or repeated")
		}
	}
	if len(inv.Inviter) > maxAccountLen || !slices.Contains(inv.Voters, inv.Inviter) {
		return bad("inviter not among its voters")
	}
	return nil
}

// Verify checks the invitation's shape and that the inviter signed it.
func (inv *Invitation) Verify() error {
	if err := inv.checkShape(); err != nil {
		return err
	}
	id, err := peer.Decode(inv.Inviter)
	if err != nil {
		return fmt.Errorf("%w: inviter %q", ErrBadSignature, inv.Inviter)
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: inviter %s: %v", ErrBadSignature, id, err)
	}
	if ok, err := pk.Verify(inv.signingBytes(), inv.Sig); err != nil || !ok {
		return fmt.Errorf("%w: invitation from %s", ErrBadSignature, id)
	}
	return nil
}

// lists reports whether p is one of the invitation's voters.
func (inv *Invitation) lists(p peer.ID) bool {
	_, found := slices.BinarySearch(inv.Voters, p.String())
	return found
}

// sameVoters reports whether the invitation names exactly the servers.
func (inv *Invitation) sameVoters(servers []raft.Server) bool {
	if len(servers) != len(inv.Voters) {
		return false
	}
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter || !slices.Contains(inv.Voters, string(srv.ID)) {
			return false
		}
	}
	return true
}

// Hash is the hex SHA-256 of the genesis's log entry: the ledger's name in
// an invitation.
func (g *Genesis) Hash() (string, error) {
	data, err := encodeGenesis(*g)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// genesisHash is the Hash of the genesis applied here (ErrNoLedger before
// one applied).
func (s *Service) genesisHash() (string, error) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	if s.fsm.st.Genesis == nil {
		return "", ErrNoLedger
	}
	return s.fsm.st.Genesis.Hash()
}

// invitations is a voter's accepted invitation, in memory and on disk.
type invitations struct {
	mu   sync.Mutex // serialises accept
	path string
	cur  *Invitation // guarded by mu for writes; read through get
	rmu  sync.RWMutex
}

func (iv *invitations) get() *Invitation {
	iv.rmu.RLock()
	defer iv.rmu.RUnlock()
	return iv.cur
}

func (iv *invitations) set(inv *Invitation) {
	iv.rmu.Lock()
	iv.cur = inv
	iv.rmu.Unlock()
}

// load reads an accepted invitation left by an earlier run. A file that
// is there but does not verify stops the voter: it names whom this node
// trusts, so it is never silently dropped.
func (iv *invitations) load(self peer.ID) error {
	data, err := os.ReadFile(iv.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	var inv Invitation
	if err := json.Unmarshal(data, &inv); err != nil {
		return fmt.Errorf("ledger: %s is damaged (%v); remove it to be invited again", iv.path, err)
	}
	if err := inv.Verify(); err != nil || !inv.lists(self) {
		return fmt.Errorf("ledger: %s does not hold a valid invitation for this node; remove it to be invited again", iv.path)
	}
	iv.set(&inv)
	return nil
}

// save writes inv durably (temporary file, fsync, rename, fsync of the
// directory), then makes it the current one.
func (iv *invitations) save(inv *Invitation) error {
	data, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: invitation: %w", err)
	}
	tmp := iv.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: invitation: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, iv.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ledger: invitation: %w", err)
	}
	if d, err := os.Open(filepath.Dir(iv.path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	iv.set(inv)
	return nil
}

// acceptInvitation decides an invitation that remote sent to this voter
// (see the rules above). nil means accepted.
func (s *Service) acceptInvitation(remote peer.ID, inv *Invitation) error {
	self := s.host.ID()
	if inv.Inviter != remote.String() {
		return fmt.Errorf("%w: sent by %s but signed by %s", ErrInvitationRefused, remote, inv.Inviter)
	}
	if !inv.lists(self) {
		return fmt.Errorf("%w: it does not list this node %s", ErrInvitationRefused, self)
	}
	if err := inv.Verify(); err != nil {
		return err
	}
	iv := s.invites
	iv.mu.Lock()
	defer iv.mu.Unlock()
	r := s.raft.Load()
	servers := r.GetConfiguration().Configuration().Servers
	exists, err := raft.HasExistingState(s.store, s.store, s.snaps)
	if err != nil {
		return fmt.Errorf("ledger: invitation: %w", err)
	}
	if exists || len(servers) > 0 {
		if len(servers) > 0 && inv.sameVoters(servers) {
			return nil // already a voter of exactly this set; nothing changes
		}
		return fmt.Errorf("%w: %w: %s already belongs to a ledger", ErrInvitationRefused, ErrLedgerExists, self)
	}
	switch prev := iv.get(); {
	case prev != nil && prev.Inviter == inv.Inviter:
		// Its inviter updates it.
	case prev != nil && !s.overrides(remote, prev):
		return fmt.Errorf("%w: %s already accepted an invitation from %s", ErrInvitationRefused, self, prev.Inviter)
	case !s.trusts(remote) && len(s.cfg.Voters) > 0:
		return fmt.Errorf("%w: %s is not in this voter's --ledger-voters", ErrInvitationRefused, remote)
	case !s.trusts(remote):
		return fmt.Errorf("%w: %s is not one of this voter's --bootstrap peers, and it has no --ledger-voters", ErrInvitationRefused, remote)
	}
	if err := iv.save(inv); err != nil {
		return err
	}
	s.log.Info("ledger: accepted an invitation", "inviter", remote, "voters", len(inv.Voters), "genesis", inv.Genesis)
	return nil
}

// overrides reports whether p may replace an invitation accepted from
// another inviter: only when the operator has since named p, and not that
// inviter, in Config.Voters (restarted it with --ledger-voters p).
func (s *Service) overrides(p peer.ID, prev *Invitation) bool {
	return slices.Contains(s.cfg.Voters, p) && !slices.ContainsFunc(s.cfg.Voters, func(v peer.ID) bool { return v.String() == prev.Inviter })
}

// trusts reports whether p may invite this fresh voter: a peer of
// Config.Voters when that is set, else one of Config.Inviters.
func (s *Service) trusts(p peer.ID) bool {
	if len(s.cfg.Voters) > 0 {
		return slices.Contains(s.cfg.Voters, p)
	}
	return slices.Contains(s.cfg.Inviters, p)
}

// inviteAll sends inv to the peers in others or, when that is nil, to
// every voter it lists but this node, all at once, and waits until each
// accepted. A refusal ends it at once with an error that names the voter
// and what fixes it; a voter that cannot be reached is asked again until
// ctx ends.
func (s *Service) inviteAll(ctx context.Context, inv Invitation, others []peer.ID) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if others == nil {
		for _, v := range inv.Voters {
			id, err := peer.Decode(v)
			if err != nil {
				return fmt.Errorf("ledger: invitation: %w", err)
			}
			if id != s.host.ID() {
				others = append(others, id)
			}
		}
	}
	errs := make(chan error, len(others))
	for _, v := range others {
		go func() { errs <- s.invite(ctx, v, inv) }()
	}
	var first error
	for range others {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // a refusal decides it; stop asking the others
		}
	}
	return first
}

// invite asks one voter, retrying while the outcome is open.
func (s *Service) invite(ctx context.Context, v peer.ID, inv Invitation) error {
	var last error
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.call(ctx, v, clientRequest{Op: opInvite, Invitation: &inv})
		if err != nil {
			if errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}) {
				return refusal(v, s.host.ID(), fmt.Errorf("%w: it does not run a ledger voter", ErrNotVoter))
			}
			last = err
			return err
		}
		if rerr := resp.err(); rerr != nil {
			if retryable(rerr) {
				last = rerr
				return rerr
			}
			return refusal(v, s.host.ID(), rerr)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrInvitationRefused) && ctx.Err() != nil {
		return fmt.Errorf("ledger: voter %s did not answer the invitation (is it running and reachable?): %w (last error: %v)", v, ctx.Err(), last)
	}
	return err
}

// refusal is the error for voter v refusing self's invitation with why:
// it names the voter and the flag that fixes it.
func refusal(v, self peer.ID, why error) error {
	fix := fmt.Sprintf("restart %s with --ledger-voters %s so it trusts this node's invitation", v, self)
	switch {
	case errors.Is(why, ErrNotVoter):
		fix = fmt.Sprintf("restart %s with --ledger-voter", v)
	case errors.Is(why, ErrLedgerExists):
		fix = fmt.Sprintf("leave %s out of --voters, or start it afresh with an empty ledger directory", v)
	case errors.Is(why, ErrBadSignature), errors.Is(why, errBadRequest):
		fix = "this is a bug or a version mismatch, not a setting"
	}
	msg := strings.TrimPrefix(why.Error(), ErrInvitationRefused.Error()+": ")
	return fmt.Errorf("%w by voter %s: %s; %s", ErrInvitationRefused, v, msg, fix)
}
