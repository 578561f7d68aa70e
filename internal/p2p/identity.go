package p2p

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
)

// ErrNoIdentity is returned (wrapped, with the file's path) by
// [LoadIdentity] when the identity file does not exist. It matches
// fs.ErrNotExist too.
var ErrNoIdentity = fmt.Errorf("p2p: no identity key: %w", fs.ErrNotExist)

// LoadIdentity returns the Ed25519 private key stored at path, like
// [LoadOrCreateIdentity], but never creates one: a missing file gives an
// error wrapping [ErrNoIdentity].
func LoadIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrNoIdentity, path)
	case err != nil:
		return nil, fmt.Errorf("p2p: read identity %s: %w", path, err)
	}
	return parseIdentity(path, data)
}

// LoadOrCreateIdentity returns the Ed25519 private key stored at path,
// creating a new one (file mode 0600, parent directories 0700) when the file
// does not exist. The file holds the key in libp2p's protobuf encoding
// (crypto.MarshalPrivateKey), the same bytes go-libp2p tools read.
//
// An unreadable, corrupt or non-Ed25519 key file gives an error that names
// the file; it is never overwritten.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseIdentity(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("p2p: read identity %s: %w", path, err)
	}

	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("p2p: generate identity: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("p2p: encode identity: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("p2p: create identity directory: %w", err)
		}
	}
	// O_EXCL: if another process created the file meanwhile, use its key
	// rather than replacing it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("p2p: read identity %s: %w", path, err)
		}
		return parseIdentity(path, data)
	}
	if err != nil {
		return nil, fmt.Errorf("p2p: create identity %s: %w", path, err)
	}
	_, werr := f.Write(raw)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("p2p: write identity %s: %w", path, err)
	}
	return sk, nil
}

func parseIdentity(path string, data []byte) (crypto.PrivKey, error) {
	sk, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("p2p: identity file %s is corrupt (delete it to create a new identity, which changes this node's peer ID): %w", path, err)
	}
	if sk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("p2p: identity file %s holds a %s key, want Ed25519", path, sk.Type())
	}
	return sk, nil
}

// NewSwarmKey returns the text of a new libp2p swarm.key file (a 256-bit
// pre-shared key in the "/key/swarm/psk/1.0.0/" base16 format). Peers that
// share it form a private network that no other peer can connect to.
func NewSwarmKey() ([]byte, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("p2p: generate swarm key: %w", err)
	}
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(k[:]) + "\n"), nil
}

// parseSwarmKey decodes the contents of a swarm.key file.
func parseSwarmKey(text []byte) (pnet.PSK, error) {
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("p2p: invalid swarm key: %w", err)
	}
	if len(psk) != 32 {
		return nil, fmt.Errorf("p2p: invalid swarm key: %d bytes, want 32", len(psk))
	}
	return psk, nil
}

// ReadAllowPeers reads a list of peer IDs, one per line. Blank lines and
// lines starting with '#' are ignored, as is anything after a '#' on a line.
// A line that is not a valid peer ID gives an error naming the file and line.
// The result is non-nil (possibly empty) when err is nil, so it can be passed
// straight to [Config.AllowPeers].
func ReadAllowPeers(path string) ([]peer.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("p2p: read allow list: %w", err)
	}
	defer f.Close()
	ids := []peer.ID{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		id, err := peer.Decode(text)
		if err != nil {
			return nil, fmt.Errorf("p2p: allow list %s line %d: %q is not a peer ID: %w", path, line, text, err)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("p2p: read allow list %s: %w", path, err)
	}
	return ids, nil
}
