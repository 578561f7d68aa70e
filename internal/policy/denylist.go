// Package policy is the node's content policy: denylists in the compact
// denylist format IPFS gateways use (IPIP-383, "compact denylist format
// V1"), loaded from a file or fetched once from a URL, kept in the home,
// and consulted wherever the node would store or serve content.
//
// Of the format's rules, those that name content by id apply here:
//
//   - /ipfs/CID blocks the CID's multihash (so every CID with that
//     multihash, whatever its codec), and /ipfs/CID/* does the same (the
//     empty path is included in the prefix);
//   - //B58MULTIHASH (modern double hash) blocks a CID whose base58btc
//     multihash string hashes to it, under the hash function the rule names
//     (sha2-256 and blake3 are supported);
//   - //HEX64 (legacy badbits anchor) blocks a CID whose "CIDV1BASE32/"
//     string hashes to it under sha2-256;
//   - a rule prefixed with ! allows instead: within a list the last
//     matching rule decides, and a list added later overrides one added
//     before it where both match.
//
// Rules that do not apply to content ids (/ipns/ names, /ipfs/CID/PATH
// paths below a CID, since peerpath fetches by id and never resolves a
// path) are counted and reported as warnings, not errors: a list made for
// an IPFS gateway loads and its CID rules take effect. A line that is not
// a rule at all is reported the same way. What fails a whole list: a header
// that is not "key: value" YAML, a version other than 1, a line over the
// format's 2 MiB limit.
package policy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"
)

// Limits of the format (IPIP-383) and of this node.
const (
	// MaxHeader is the largest header: beyond it, the list is read as if
	// it had none.
	MaxHeader = 1 << 20
	// MaxLine is the longest line, its newline included.
	MaxLine = 2 << 20
	// MaxWarnings bounds the warnings kept per list (the count of ignored
	// lines is kept in full).
	MaxWarnings = 20
)

// ErrInvalid is returned (wrapped) for a list that cannot be loaded at
// all.
var ErrInvalid = errors.New("policy: invalid denylist")

// Kinds of keys a CID is looked up under.
const (
	keyMultihash = 'm' // /ipfs/CID: the multihash bytes
	keyLegacy    = 'l' // //HEX: sha256("CIDV1BASE32/")
	keyDouble    = 'd' // //B58: the double-hash multihash bytes
)

// List is one parsed denylist.
type List struct {
	// Header fields (empty when absent).
	Name, Description, Author string
	// Version is the format version (1).
	Version int
	// Deny and Allow count the rules that apply to content ids; Ignored
	// counts lines that are rules of another kind or not rules at all.
	Deny, Allow, Ignored int
	// Warnings explains the first ignored lines (at most MaxWarnings).
	Warnings []string

	// rules maps a lookup key to the sequence number of the last rule
	// naming it: positive to deny, negative to allow.
	rules map[string]int32
	// doubleCodes lists the hash functions of the list's double-hash rules.
	doubleCodes []uint64
}

// Parse reads a denylist. The caller bounds r's size.
func Parse(r io.Reader) (*List, error) {
	br := bufio.NewReaderSize(r, MaxHeader)
	l := &List{Version: 1, rules: make(map[string]int32)}

	// The header: lines up to one that is "---", within MaxHeader bytes.
	// Without such a line, everything is rules.
	head, err := br.Peek(MaxHeader)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("policy: read denylist: %w", err)
	}
	line := 0
	if hdr, n, ok := splitHeader(head, len(head) < MaxHeader); ok {
		if err := l.parseHeader(hdr); err != nil {
			return nil, err
		}
		line = bytes.Count(hdr, []byte{'\n'}) + 1
		br.Discard(n)
	}
	var seq int32
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		seq++
		if seq == 1<<31-1 {
			return nil, fmt.Errorf("%w: too many rules", ErrInvalid)
		}
		l.parseRule(line, text, seq)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrInvalid, line+1, MaxLine)
		}
		return nil, fmt.Errorf("policy: read denylist: %w", err)
	}
	return l, nil
}

// splitHeader looks for a "---" line in head, the first bytes of the
// list (all of it when eof). It returns the header before that line and
// the number of bytes the header and the line take.
func splitHeader(head []byte, eof bool) (hdr []byte, n int, found bool) {
	off := 0
	for off < len(head) {
		end := bytes.IndexByte(head[off:], '\n')
		next := off + end + 1
		if end < 0 {
			if !eof {
				return nil, 0, false
			}
			end, next = len(head)-off, len(head)
		}
		if string(bytes.TrimRight(head[off:off+end], " \t\r")) == "---" {
			return head[:off], next, true
		}
		off = next
	}
	return nil, 0, false
}

// parseHeader reads the header's top-level "key: value" pairs. Nested
// values (indented lines, such as the hints map) and unknown keys are
// skipped, as the format asks.
func (l *List) parseHeader(hdr []byte) error {
	for i, raw := range strings.Split(string(hdr), "\n") {
		ln := strings.TrimRight(raw, " \t\r")
		t := strings.TrimSpace(ln)
		if t == "" || t[0] == '#' {
			continue
		}
		if ln[0] == ' ' || ln[0] == '\t' || strings.HasPrefix(t, "- ") {
			continue // a nested value
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%w: header line %d is not \"key: value\"", ErrInvalid, i+1)
		}
		k, v = strings.TrimSpace(k), unquote(strings.TrimSpace(v))
		switch k {
		case "version":
			n, err := strconv.Atoi(v)
			if err != nil || n != 1 {
				return fmt.Errorf("%w: version %q (only version 1 is supported)", ErrInvalid, v)
			}
		case "name":
			l.Name = clip(v)
		case "description":
			l.Description = clip(v)
		case "author":
			l.Author = clip(v)
		}
	}
	return nil
}

// unquote strips one pair of YAML quotes; block scalars (> and |) read as
// empty.
func unquote(v string) string {
	if i := strings.Index(v, " #"); i >= 0 && !strings.HasPrefix(v, `"`) && !strings.HasPrefix(v, "'") {
		v = strings.TrimSpace(v[:i])
	}
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	if v == ">" || v == "|" || v == ">-" || v == "|-" {
		return ""
	}
	return v
}

// clip bounds a header field kept for display.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max]
	}
	return s
}

// parseRule adds one rule line (without comments around it). seq orders
// the rules of the list.
func (l *List) parseRule(line int, text string, seq int32) {
	// Hints follow the item after whitespace; none is supported, so they
	// are dropped.
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		text = text[:i]
	}
	item, allow := text, false
	if strings.HasPrefix(item, "!") {
		item, allow = item[1:], true
	}
	sign := seq
	if allow {
		sign = -seq
	}
	keys, why := ruleKeys(item)
	if len(keys) == 0 {
		l.Ignored++
		if len(l.Warnings) < MaxWarnings {
			l.Warnings = append(l.Warnings, fmt.Sprintf("line %d: %s: ignored", line, why))
		}
		return
	}
	for _, k := range keys {
		l.rules[k.key] = sign
		if k.code != 0 && !hasCode(l.doubleCodes, k.code) {
			l.doubleCodes = append(l.doubleCodes, k.code)
		}
	}
	if allow {
		l.Allow++
	} else {
		l.Deny++
	}
}

type ruleKey struct {
	key  string
	code uint64 // the hash function of a double-hash key
}

// ruleKeys returns the lookup keys of a rule item, or none and why it does
// not apply.
func ruleKeys(item string) ([]ruleKey, string) {
	switch {
	case strings.HasPrefix(item, "//"):
		h := item[2:]
		var keys []ruleKey
		if len(h) == 64 {
			if d, err := hex.DecodeString(h); err == nil {
				keys = append(keys, ruleKey{key: string(keyLegacy) + string(d)})
			}
		}
		// A string that may be both (the format asks to keep both rules).
		if m, err := mh.FromB58String(h); err == nil {
			dm, err := mh.Decode(m)
			switch {
			case err != nil:
			case (dm.Code == mh.SHA2_256 || dm.Code == mh.BLAKE3) && dm.Length == 32:
				keys = append(keys, ruleKey{key: string(keyDouble) + string(m), code: dm.Code})
			case len(keys) == 0:
				return nil, fmt.Sprintf("double hash with unsupported hash function %s", mh.Codes[dm.Code])
			}
		}
		if len(keys) == 0 {
			return nil, "double hash is neither a base58 multihash nor 64 hex digits"
		}
		return keys, ""
	case strings.HasPrefix(item, "/ipfs/"):
		rest := item[len("/ipfs/"):]
		c, path, _ := strings.Cut(rest, "/")
		id, err := cid.Decode(c)
		if err != nil {
			return nil, "not a CID"
		}
		if path != "" && path != "*" {
			return nil, "a path below a CID (peerpath fetches by id and resolves no paths)"
		}
		return []ruleKey{{key: string(keyMultihash) + string(id.Hash())}}, ""
	case strings.HasPrefix(item, "/ipns/"):
		return nil, "an IPNS name (peerpath has no IPNS names)"
	default:
		return nil, "not a rule of the compact denylist format"
	}
}

func hasCode(codes []uint64, c uint64) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// Rules returns the number of distinct lookup keys the list holds.
func (l *List) Rules() int { return len(l.rules) }

// decide returns the rule that matches id last (its sequence number, signed
// as in rules), or 0 when none matches.
func (l *List) decide(p *probe) int32 {
	var best int32
	look := func(k string) {
		if v, ok := l.rules[k]; ok && abs(v) > abs(best) {
			best = v
		}
	}
	look(p.multihash)
	if p.legacy != "" {
		look(p.legacy)
	}
	for _, code := range l.doubleCodes {
		look(p.double(code))
	}
	return best
}

// Denies reports whether the list alone refuses id.
func (l *List) Denies(id cid.Cid) bool {
	p := newProbe(id)
	return l.decide(&p) > 0
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// probe holds a CID's lookup keys, computed once for every list.
type probe struct {
	multihash string
	legacy    string
	b58       string
	doubles   map[uint64]string
}

func newProbe(id cid.Cid) probe {
	p := probe{multihash: string(keyMultihash) + string(id.Hash())}
	if id.Version() == 1 {
		if s, err := id.StringOfBase('b'); err == nil {
			d := sha256.Sum256([]byte(s + "/"))
			p.legacy = string(keyLegacy) + string(d[:])
		}
	} else {
		d := sha256.Sum256([]byte(cid.NewCidV1(id.Type(), id.Hash()).String() + "/"))
		p.legacy = string(keyLegacy) + string(d[:])
	}
	p.b58 = id.Hash().B58String()
	return p
}

// double returns the key of the modern double hash of p's multihash under
// code.
func (p *probe) double(code uint64) string {
	if s, ok := p.doubles[code]; ok {
		return s
	}
	var sum []byte
	switch code {
	case mh.SHA2_256:
		d := sha256.Sum256([]byte(p.b58))
		sum = d[:]
	case mh.BLAKE3:
		d := blake3.Sum256([]byte(p.b58))
		sum = d[:]
	default:
		return ""
	}
	m, err := mh.Encode(sum, code)
	if err != nil {
		return ""
	}
	if p.doubles == nil {
		p.doubles = make(map[uint64]string, 2)
	}
	s := string(keyDouble) + string(m)
	p.doubles[code] = s
	return s
}
