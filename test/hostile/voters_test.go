//go:build linux

package hostile

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/test/harness"
)

// Class 16: voters that were not told whom to trust. Three daemons started
// with --ledger-voter and --bootstrap only form a ledger through `ledger
// create` (the creator invites each voter); a voter that refuses makes
// `ledger create` fail at once, naming it and the flag that fixes it; and a
// stranger can neither capture a fresh voter nor invite an initialised one
// into another ledger, nor speak raft to it.
func TestVotersNotToldWhomToTrust(t *testing.T) {
	a := harness.Start(t, "--ledger-voter")
	boot := a.Addr()
	b := harness.Start(t, "--ledger-voter", "--bootstrap", boot)
	c := harness.Start(t, "--ledger-voter", "--bootstrap", boot)
	ida, idb, idc := mustID(t, a), mustID(t, b), mustID(t, c)

	// A stranger connected to a fresh voter cannot invite it: it is neither
	// a peer the voter was told of nor its bootstrap peer.
	stranger, skey := newPeer(t, b)
	resp := invite(t, stranger, skey, idb, []peer.ID{mustPeer(t, stranger), idb})
	if resp.Error == "" || !strings.Contains(resp.Error, "invitation refused") {
		t.Fatalf("a fresh voter accepted a stranger's invitation: %+v", resp)
	}

	// A voter told to trust someone else refuses A's invitation, and
	// `ledger create` says so at once, naming that voter and the flag.
	g := harness.Start(t, "--ledger-voter", "--bootstrap", boot, "--ledger-voters", idb.String())
	idg := mustID(t, g)
	gen := filepath.Join(t.TempDir(), "genesis.json")
	body, _ := json.Marshal(map[string]any{ida.String(): 1000})
	if err := os.WriteFile(gen, body, 0o600); err != nil {
		t.Fatal(err)
	}
	voters := strings.Join([]string{ida.String(), idb.String(), idc.String()}, ",")
	_, errOut, code := harness.CLI(t, "ledger", "create", "--voters", voters+","+idg.String(), "--genesis", gen, "--home", a.Home)
	if code == 0 || !strings.Contains(errOut, idg.String()) || !strings.Contains(errOut, "--ledger-voters") ||
		strings.Contains(errOut, "deadline exceeded") {
		t.Fatalf("ledger create with a refusing voter: exit %d, stderr %q; want a refusal naming %s and --ledger-voters", code, errOut, idg)
	}

	// Without it, the three form a ledger.
	if _, errOut, code := harness.CLI(t, "ledger", "create", "--voters", voters, "--genesis", gen, "--home", a.Home); code != 0 {
		t.Fatalf("ledger create: exit %d: %s", code, errOut)
	}
	harness.Eventually(t, 20*time.Second, func() error {
		var st api.LedgerStatus
		harness.CLIJSON(t, &st, "ledger", "status", "--home", c.Home)
		if st.Leader == "" || len(st.Voters) != 3 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	var rc api.Receipt
	harness.CLIJSON(t, &rc, "wallet", "send", idc.String(), "5", "--home", a.Home)
	harness.Eventually(t, 10*time.Second, func() error {
		var bal api.Balance
		harness.CLIJSON(t, &bal, "wallet", "--home", b.Home, idc.String())
		if bal.Balance.String() != "5" {
			return fmt.Errorf("balance of C seen by B: %s", bal.Balance)
		}
		return nil
	})

	// The stranger cannot invite an initialised voter into another ledger,
	// even one listing the voter's own voters besides itself.
	for _, set := range [][]peer.ID{{mustPeer(t, stranger), idb}, {mustPeer(t, stranger), ida, idb, idc}} {
		resp := invite(t, stranger, skey, idb, set)
		if resp.Error == "" {
			t.Fatalf("an initialised voter accepted a stranger's invitation to %v", set)
		}
	}

	// Nor speak raft to it: a RequestVote with a term far ahead (which
	// would depose the leader) is reset before raft sees it.
	if err := requestVote(t, stranger, idb); err == nil {
		t.Fatal("an initialised voter answered a stranger's raft RequestVote")
	}
	// The probe itself works: a voter told to trust the stranger answers it.
	f := harness.Start(t, "--ledger-voter", "--ledger-voters", mustPeer(t, stranger).String())
	connect(t, stranger, f)
	if err := requestVote(t, stranger, mustID(t, f)); err != nil {
		t.Fatalf("control: a voter that trusts the stranger did not answer its RequestVote: %v", err)
	}

	// The ledger still works and still has its three voters.
	harness.CLIJSON(t, &rc, "wallet", "send", idc.String(), "1", "--home", a.Home)
	var st api.LedgerStatus
	harness.CLIJSON(t, &st, "ledger", "status", "--home", b.Home)
	if len(st.Voters) != 3 || strings.Contains(strings.Join(st.Voters, ","), mustPeer(t, stranger).String()) {
		t.Fatalf("voters after the attack: %v", st.Voters)
	}
}

func mustPeer(t *testing.T, h host.Host) peer.ID { t.Helper(); return h.ID() }

// connect connects h to d.
func connect(t *testing.T, h host.Host, d *harness.Daemon) {
	t.Helper()
	ai, err := peer.AddrInfoFromString(d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
}

// wireResponse is the client protocol's answer, as the daemon sends it.
type wireResponse struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
}

// invite sends, over the ledger's client protocol, an invitation signed by
// the stranger's own key to the voter set, with a made-up genesis hash.
func invite(t *testing.T, h host.Host, key crypto.PrivKey, to peer.ID, voters []peer.ID) wireResponse {
	t.Helper()
	inv, err := ledger.NewInvitation(key, voters, strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, to, ledger.ClientProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	req, _ := json.Marshal(map[string]any{"op": "invite", "invitation": inv})
	if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(req))), req...)); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	br := bufio.NewReader(s)
	n, err := binary.ReadUvarint(br)
	if err != nil || n > 1<<20 {
		t.Fatalf("invite answer: %d %v", n, err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		t.Fatal(err)
	}
	var resp wireResponse
	if err := json.Unmarshal(buf, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// requestVote sends one raft RequestVote RPC, with a term far ahead, over
// the ledger's raft protocol from h to the voter to, through hashicorp/raft's
// own transport, and reports whether it got an answer.
func requestVote(t *testing.T, h host.Host, to peer.ID) error {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	layer := ledger.NewStreamLayer(h, func(peer.ID) bool { return false }, log)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: layer, MaxPool: 1, Timeout: 10 * time.Second})
	defer trans.Close()
	req := &raft.RequestVoteRequest{
		RPCHeader:          raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(h.ID().String()), Addr: []byte(h.ID().String())},
		Term:               1 << 40,
		LastLogIndex:       1 << 40,
		LastLogTerm:        1 << 40,
		LeadershipTransfer: true,
	}
	var resp raft.RequestVoteResponse
	return trans.RequestVote(raft.ServerID(to.String()), raft.ServerAddress(to.String()), req, &resp)
}
