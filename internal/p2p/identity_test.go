package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "identity.key")
	sk, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if sk.Type() != crypto.Ed25519 {
		t.Errorf("key type %v, want Ed25519", sk.Type())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("identity file mode %o, want 600", mode)
	}
	again, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := peer.IDFromPrivateKey(sk)
	id2, _ := peer.IDFromPrivateKey(again)
	if id1 != id2 {
		t.Errorf("reloaded identity %s, want %s", id2, id1)
	}

	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadOrCreateIdentity(path)
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: err = %v, want error naming the corrupt file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("corrupt identity file was overwritten")
	}

	// A key of another type is refused.
	rsa, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err == nil {
		raw, _ := crypto.MarshalPrivateKey(rsa)
		_ = os.WriteFile(path, raw, 0o600)
		if _, err := LoadOrCreateIdentity(path); err == nil || !strings.Contains(err.Error(), "Ed25519") {
			t.Errorf("secp256k1 key: err = %v, want Ed25519 error", err)
		}
	}

	// A directory in the way cannot be read as a key.
	dir := filepath.Join(t.TempDir(), "dir")
	_ = os.Mkdir(dir, 0o700)
	if _, err := LoadOrCreateIdentity(dir); err == nil {
		t.Error("directory accepted as identity file")
	}
}

func TestLoadIdentityNeverCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	if _, err := LoadIdentity(path); !errors.Is(err, ErrNoIdentity) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadIdentity created %s", path)
	}
	sk, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadIdentity(path)
	if err != nil || !got.Equals(sk) {
		t.Fatalf("LoadIdentity of a stored key: %v", err)
	}
}

func TestNewSwarmKey(t *testing.T) {
	k1, err := NewSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewSwarmKey()
	if bytes.Equal(k1, k2) {
		t.Error("two swarm keys are equal")
	}
	lines := strings.Split(string(k1), "\n")
	if len(lines) != 4 || lines[0] != "/key/swarm/psk/1.0.0/" || lines[1] != "/base16/" || len(lines[2]) != 64 || lines[3] != "" {
		t.Errorf("swarm key format: %q", k1)
	}
	psk, err := parseSwarmKey(k1)
	if err != nil || len(psk) != 32 {
		t.Errorf("parse own key: %v (len %d)", err, len(psk))
	}
}

func TestReadAllowPeers(t *testing.T) {
	id1, id2 := mustID(t), mustID(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "allow")
	text := "# friends\n\n" + id1.String() + "\n  " + id2.String() + "  # laptop\n"
	if err := os.WriteFile(good, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := ReadAllowPeers(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != id1 || ids[1] != id2 {
		t.Errorf("got %v, want [%s %s]", ids, id1, id2)
	}

	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("# nobody\n"), 0o600)
	ids, err = ReadAllowPeers(empty)
	if err != nil || ids == nil || len(ids) != 0 {
		t.Errorf("comment-only file: %v, %v; want non-nil empty list", ids, err)
	}

	bad := filepath.Join(dir, "bad")
	_ = os.WriteFile(bad, []byte(id1.String()+"\n# ok\nQmNotAPeer\n"), 0o600)
	_, err = ReadAllowPeers(bad)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "QmNotAPeer") {
		t.Errorf("bad line: err = %v, want error naming line 3", err)
	}
	if _, err := ReadAllowPeers(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func mustID(t *testing.T) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no identity":     {Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}, "Identity"},
		"bad multiaddr":   {Config{Identity: key, ListenAddrs: []string{"/ip4/999.0.0.1/tcp/0"}}, "999.0.0.1"},
		"not a multiaddr": {Config{Identity: key, ListenAddrs: []string{"localhost:4101"}}, "localhost:4101"},
		"no transport":    {Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1"}}, "/tcp"},
		"bad bootstrap":   {Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{"/ip4/127.0.0.1/tcp/4101"}}, "bootstrap"},
		"port in use":     {Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/" + itoa(port)}}, "address already in use"},
		"watermarks":      {Config{Identity: key, LowWater: 10, HighWater: 5}, "HighWater"},
		"secp256k1 key":   {Config{Identity: secpKey(t)}, "Ed25519"},
		"bad swarm key":   {Config{Identity: key, SwarmKey: []byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n")}, "swarm key"},
	} {
		n, err := New(ctx, tc.cfg)
		if err == nil {
			n.Close()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "p2p: ") {
			t.Errorf("%s: err = %v, want p2p: error mentioning %q", name, err, tc.want)
		}
		t.Logf("%s: %v", name, err)
	}
}

// TestSecondNodeOnSamePort checks that a node cannot take a fixed TCP port
// that another node serves (go-libp2p listens with SO_REUSEPORT, which
// would otherwise let both bind it).
func TestSecondNodeOnSamePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "/ip4/127.0.0.1/tcp/" + itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	testNode(t, func(c *Config) { c.ListenAddrs = []string{addr} })
	n, err := New(context.Background(), Config{Identity: newKey(t), ListenAddrs: []string{addr}})
	if err == nil {
		n.Close()
		t.Fatal("second node listens on the same TCP port")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v, want address already in use", err)
	}
}

func secpKey(t *testing.T) crypto.PrivKey {
	sk, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func itoa(i int) string { return strconv.Itoa(i) }

func idOf(t *testing.T, sk crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustIDOf(t *testing.T, sk crypto.PrivKey) string { return idOf(t, sk).String() }
