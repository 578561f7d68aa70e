package node

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/internal/config"
)

// A home that holds state but lost identity.key is refused with a message
// that names the file and --new-identity; with NewIdentity it gets a new
// key; a fresh home is simply created.
func TestInitRefusesLostIdentity(t *testing.T) {
	home := config.Home(t.TempDir())
	id, err := Init(home)
	if err != nil {
		t.Fatal(err)
	}
	key := home.Path(config.FileIdentity)
	// A home with only what Init writes has no state: a lost key is
	// simply made again.
	os.Remove(key)
	if _, err := Init(home); err != nil {
		t.Fatalf("home without state: %v", err)
	}
	if err := os.WriteFile(home.Path(config.FileDB), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(key)
	_, err = Init(home)
	if !errors.Is(err, ErrIdentityMissing) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "--new-identity") {
		t.Fatalf("lost key: %v", err)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused Init created a key")
	}
	again, err := InitWith(home, InitOptions{NewIdentity: true})
	if err != nil || again == id {
		t.Fatalf("--new-identity: %s, %v", again, err)
	}
	// NewIdentity never replaces a key.
	if same, err := InitWith(home, InitOptions{NewIdentity: true}); err != nil || same != again {
		t.Fatalf("NewIdentity with a key: %s, %v; want %s", same, err, again)
	}
}
