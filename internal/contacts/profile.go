package contacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Limits of what a name may be; the same rules hold for this node's own
// display name, a contact's petname and a name another peer announces.
const (
	// MaxNameRunes bounds a name's length in characters.
	MaxNameRunes = 64
	// maxNameBytes bounds a name's length in bytes (64 characters of up
	// to 4 bytes each).
	maxNameBytes = 4 * MaxNameRunes
	// maxProfileMsg bounds a profile message on the wire.
	maxProfileMsg = 1024
)

// DeviceTypes are the device types a node may announce; "" means unknown.
var DeviceTypes = []string{"laptop", "desktop", "phone", "tablet", "server", "other"}

// ErrBadName wraps every reason a name is refused.
var ErrBadName = errors.New("contacts: bad name")

// ErrBadDevice is returned for a device type outside [DeviceTypes].
var ErrBadDevice = errors.New("contacts: bad device type")

// Profile is what a node tells the peers it meets about itself: a
// self-chosen display name and device type (both only suggestions: a
// stranger may claim any name), and whether it shows itself online.
type Profile struct {
	Name   string `json:"name,omitempty"`
	Device string `json:"device,omitempty"`
	// Invisible asks contacts to show this node offline.
	Invisible bool `json:"invisible,omitempty"`
}

// CheckName trims name and checks it: 1 to [MaxNameRunes] characters of
// valid UTF-8 with no control or format characters (no newlines, no
// bidirectional overrides that would make a name display as another). A
// name that parses as a peer ID is refused too, so that every argument that
// takes "NAME or PEERID" has one meaning, as is a name beginning with
// "group:" (the prefix of group conversations).
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > maxNameBytes || utf8.RuneCountInString(name) > MaxNameRunes:
		return "", fmt.Errorf("%w: longer than %d characters", ErrBadName, MaxNameRunes)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: not valid UTF-8", ErrBadName)
	case strings.HasPrefix(strings.ToLower(name), "group:"):
		return "", fmt.Errorf("%w: %q begins with group:, which names group conversations", ErrBadName, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("%w: %q holds a control or format character (%U)", ErrBadName, name, r)
		}
	}
	if _, err := peer.Decode(name); err == nil {
		return "", fmt.Errorf("%w: %q is a peer ID; a name must not look like one", ErrBadName, name)
	}
	return name, nil
}

// CheckDevice checks a device type; "" is allowed (unknown).
func CheckDevice(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "" {
		return "", nil
	}
	for _, ok := range DeviceTypes {
		if d == ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w %q: want one of %s", ErrBadDevice, d, strings.Join(DeviceTypes, ", "))
}

// encodeProfile is the wire form of p: JSON, at most maxProfileMsg bytes
// (names are bounded, so it always fits).
func encodeProfile(p Profile) []byte {
	b, _ := json.Marshal(p)
	return b
}

// decodeProfile reads a profile another peer sent. Its name and device type
// are checked like our own; a name or device that fails is dropped (the
// peer is then shown by its id), never stored or shown.
func decodeProfile(b []byte) (Profile, error) {
	if len(b) > maxProfileMsg {
		return Profile{}, fmt.Errorf("contacts: profile of %d bytes, limit %d", len(b), maxProfileMsg)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return Profile{}, fmt.Errorf("contacts: bad profile: %w", err)
	}
	if p.Name != "" {
		if n, err := CheckName(p.Name); err != nil {
			p.Name = ""
		} else {
			p.Name = n
		}
	}
	if d, err := CheckDevice(p.Device); err != nil {
		p.Device = ""
	} else {
		p.Device = d
	}
	return p, nil
}

// ShortID is the short form of a peer ID shown where there is no name:
// its first 8 and last 6 characters.
func ShortID(id peer.ID) string {
	s := id.String()
	if len(s) <= 16 {
		return s
	}
	return s[:8] + "…" + s[len(s)-6:]
}
