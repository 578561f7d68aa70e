package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Market operations (the escrow extension).
//
// The marketplace (internal/market) needs a purchase to complete while the
// seller is offline, and to end in exactly one of: seller paid and buyer
// holding a key matching the listing's commitment, or buyer refunded. The
// ledger's voters are already the network's replicated, trusted-by-quorum
// role, so they hold the keys:
//
//   - KindList (signed by the seller) registers a listing: price, ciphertext
//     CID, a commitment to the content key (SHA-256), an expiry, and the key
//     sealed to each current voter (ListingKey.Sealed). Nobody else can open
//     those copies.
//   - KindBuy (signed by the buyer, To the seller, Amount the price, Ref the
//     listing, Data the buyer's one-time X25519 public key) moves price plus
//     the operator fee from the buyer into escrow: an Order in state
//     OrderPending. The transfer ID is the order ID; a replayed order (the
//     same signed bytes again, or any purchase naming an order ID the
//     ledger holds) is refused with ErrReplayed, never applied twice and
//     never answered with the original receipt (refuseReplay).
//   - A voter's market service sees the pending order, opens its sealed copy
//     of the key, checks it against the commitment and either submits
//     KindRelease (Data: the key sealed to the buyer's key) — escrow goes to
//     the seller, the fee to the operator, and the sealed key is stored in
//     the order for the buyer to read — or KindRefund when its copy does not
//     match (the seller sealed a wrong key): escrow goes back to the buyer.
//   - After OrderTimeout of ledger time, the buyer may refund a still
//     pending order itself (KindRefund signed by the buyer).
//   - KindRate (signed by the buyer of a released order, once) records 1–5
//     stars and a comment for the seller. KindSponsor pays the operator for
//     a listing's rank. KindUnlist withdraws a listing.
//
// Every rule is checked by every voter in Apply (deterministic, replicated).
// Under RulesV2 (fsm.go) the authority to settle comes from the ledger
// alone, never from anything the seller chose: a listing is registered only
// if every account its key is sealed to is a current voter (the state
// machine learns the voters from raft's configuration entries); a release
// or a voter's refund must be signed by a current voter; and a release
// carries the content key itself beside the copy sealed to the buyer
// (Release), which the state machine checks against the commitment the
// order recorded, so no release ever pays a seller for a key that does not
// match. The plain key is kept only in the raft log, which only voters
// hold (they can open their sealed copy anyway); the order keeps the copy
// sealed to the buyer. Under RulesV1 release and voter refunds had to be
// signed by one of the accounts the seller sealed the key to, the seller
// itself included, and the key was not checked. The escrowed amounts count toward the supply: balances plus
// pending escrow always equal the supply (CheckInvariant).

// OrderTimeout is how long, in ledger time, an order may stay pending before
// its buyer may take the escrow back.
const OrderTimeout = 5 * time.Minute

// MarketRetention is how long, in ledger time, settled orders are kept
// (and so can be rated) and expired listings are kept after expiry,
// before the state forgets them.
const MarketRetention = 30 * 24 * time.Hour

// pruneMarket forgets orders settled more than MarketRetention ago and
// listings expired that long ago with no pending order. Deterministic:
// it runs from prune, on ledger time.
func (st *state) pruneMarket() {
	cut := st.Clock - int64(MarketRetention)
	pending := map[string]bool{}
	for id, o := range st.Orders {
		switch {
		case o.State == OrderPending:
			pending[o.Listing] = true
		case o.Settled < cut:
			delete(st.Orders, id)
		}
	}
	for id, l := range st.Listings {
		if l.Expiry < cut && !pending[id] {
			delete(st.Listings, id)
		}
	}
}

// Limits on market state.
const (
	ratingsLimit   = 100  // ratings kept per seller
	maxOrdersReply = 1000 // orders returned by one Orders query
	maxSealed      = 64   // voters a listing key may be sealed to
	commitLen      = 32
	buyerKeyLen    = 32
	maxSealedKey   = 1024
)

// Order states.
const (
	OrderPending  = "pending"
	OrderReleased = "released"
	OrderRefunded = "refunded"
)

// ListingKey is the Data of a KindList transfer: what the voters hold for a
// listing.
type ListingKey struct {
	// CID is the content id of the ciphertext.
	CID string `json:"cid"`
	// Size is the ciphertext's size in bytes.
	Size int64 `json:"size"`
	// Commit is the SHA-256 of the content key.
	Commit []byte `json:"commit"`
	// Expiry is when the listing stops selling (Unix nanoseconds).
	Expiry int64 `json:"expiry"`
	// Sealed maps each voter's peer ID to the content key sealed to it.
	Sealed map[string][]byte `json:"sealed"`
}

// DecodeListingKey parses and bounds-checks a ListingKey.
func DecodeListingKey(b []byte) (ListingKey, error) {
	var lk ListingKey
	if len(b) > maxDataLen {
		return lk, fmt.Errorf("%w: listing key of %d bytes", ErrListing, len(b))
	}
	if err := json.Unmarshal(b, &lk); err != nil {
		return lk, fmt.Errorf("%w: listing key: %w", ErrListing, err)
	}
	switch {
	case lk.CID == "" || len(lk.CID) > maxRefLen:
		return lk, fmt.Errorf("%w: listing key cid", ErrListing)
	case lk.Size < 0:
		return lk, fmt.Errorf("%w: listing key size", ErrListing)
	case len(lk.Commit) != commitLen:
		return lk, fmt.Errorf("%w: commitment of %d bytes", ErrListing, len(lk.Commit))
	case len(lk.Sealed) == 0 || len(lk.Sealed) > maxSealed:
		return lk, fmt.Errorf("%w: key sealed to %d voters", ErrListing, len(lk.Sealed))
	}
	for v, k := range lk.Sealed {
		if len(v) > maxAccountLen || len(k) == 0 || len(k) > maxSealedKey {
			return lk, fmt.Errorf("%w: sealed key for %q", ErrListing, v)
		}
	}
	return lk, nil
}

// Encode returns the JSON form carried in a KindList transfer's Data.
func (lk ListingKey) Encode() []byte {
	b, _ := json.Marshal(lk) // cannot fail: plain fields
	return b
}

// MarketListing is a listing as the ledger holds it.
type MarketListing struct {
	ID     string `json:"id"`
	Seller string `json:"seller"`
	Price  int64  `json:"price"`
	ListingKey
	// Sponsored is the total the seller paid the operator for rank.
	Sponsored int64 `json:"sponsored,omitempty"`
	Withdrawn bool  `json:"withdrawn,omitempty"`
	Created   int64 `json:"created"`
}

// Order is a purchase held in escrow and, once settled, its outcome.
type Order struct {
	ID       string `json:"id"`
	Listing  string `json:"listing"`
	Buyer    string `json:"buyer"`
	Seller   string `json:"seller"`
	Price    int64  `json:"price"`
	Fee      int64  `json:"fee"`
	BuyerKey []byte `json:"buyer_key"`
	// Voters may settle the order (the voters the listing key was sealed to).
	Voters   []string `json:"voters"`
	Created  int64    `json:"created"`
	Deadline int64    `json:"deadline"`
	State    string   `json:"state"`
	// SealedKey is the content key sealed to BuyerKey (released orders).
	SealedKey []byte `json:"sealed_key,omitempty"`
	// Commit is the listing's commitment to the content key, recorded when
	// the order is placed (RulesV2): a release must carry a key matching it.
	Commit  []byte `json:"commit,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Settled int64  `json:"settled,omitempty"`
	Rated   bool   `json:"rated,omitempty"`
}

// Rating is a buyer's signed rating of a seller, tied to a released order.
type Rating struct {
	Order   string `json:"order"`
	Buyer   string `json:"buyer"`
	Seller  string `json:"seller"`
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
	Time    int64  `json:"time"`
}

// validateMarket checks the static shape of the market kinds.
func (t *Transfer) validateMarket() error {
	bad := func(what string) error { return fmt.Errorf("%w: kind %d: %s", ErrInvalid, t.Kind, what) }
	if t.From == "" {
		return bad("no signer")
	}
	if t.Ref == "" {
		return bad("no ref")
	}
	switch t.Kind {
	case KindList:
		if t.To != t.From || t.Amount <= 0 || len(t.Data) == 0 {
			return bad("a listing is to the seller itself, with a positive price and a key record")
		}
	case KindUnlist:
		if t.To != t.From || t.Amount != 0 || len(t.Data) != 0 {
			return bad("shape")
		}
	case KindBuy:
		if t.To == t.From || t.Amount <= 0 || len(t.Data) != buyerKeyLen {
			return bad("a purchase pays a positive price to another account with a 32-byte key")
		}
	case KindRelease:
		if t.Amount != 0 || len(t.Data) == 0 || len(t.Data) > maxSealedKey {
			return bad("shape")
		}
	case KindRefund:
		if t.Amount != 0 || len(t.Data) != 0 {
			return bad("shape")
		}
	case KindRate:
		if t.To == t.From || t.Amount < 1 || t.Amount > 5 || len(t.Data) != 0 {
			return bad("a rating gives 1 to 5 stars to another account")
		}
	case KindSponsor:
		if t.To == t.From || t.Amount <= 0 || len(t.Data) != 0 {
			return bad("shape")
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrInvalid, t.Kind)
	}
	return nil
}

// applyMarket applies a verified market transfer. Caller holds the lock and
// has checked the ID, time and To. It fills rec's amounts.
func (st *state) applyMarket(t *SignedTransfer, rec *Receipt) error {
	switch t.Kind {
	case KindList:
		if _, ok := st.Listings[t.Ref]; ok {
			return fmt.Errorf("%w: listing %s already registered", ErrListing, t.Ref)
		}
		lk, err := DecodeListingKey(t.Data)
		if err != nil {
			return err
		}
		if lk.Expiry <= st.Clock {
			return fmt.Errorf("%w: listing %s already expired", ErrListing, t.Ref)
		}
		if st.Rules >= RulesV2 {
			if st.Voters == nil {
				return fmt.Errorf("%w: listing %s: the ledger does not know its current voters yet", ErrListing, t.Ref)
			}
			for _, v := range sortedKeys(lk.Sealed) {
				if !slices.Contains(st.Voters, v) {
					return fmt.Errorf("%w: listing %s: its key is sealed to %s, which is not a current voter; seal it to the voters only",
						ErrListing, t.Ref, v)
				}
			}
		}
		st.Listings[t.Ref] = MarketListing{ID: t.Ref, Seller: t.From, Price: t.Amount, ListingKey: lk, Created: st.Clock}
	case KindUnlist:
		l, ok := st.Listings[t.Ref]
		if !ok {
			return fmt.Errorf("%w: listing %s", ErrNotFound, t.Ref)
		}
		if l.Seller != t.From {
			return fmt.Errorf("%w: %s is not the seller of listing %s", ErrNotPermitted, t.From, t.Ref)
		}
		l.Withdrawn = true
		st.Listings[t.Ref] = l
	case KindBuy:
		if o, ok := st.Orders[t.ID]; ok {
			// The ID window has forgotten the ID, but the order is kept
			// longer: a purchase must never overwrite another order.
			return fmt.Errorf("%w: order %s already placed by %s", ErrReplayed, o.ID, o.Buyer)
		}
		l, ok := st.Listings[t.Ref]
		switch {
		case !ok:
			return fmt.Errorf("%w: listing %s", ErrNotFound, t.Ref)
		case l.Withdrawn:
			return fmt.Errorf("%w: listing %s was withdrawn", ErrListing, t.Ref)
		case st.Clock >= l.Expiry:
			return fmt.Errorf("%w: listing %s expired", ErrListing, t.Ref)
		case l.Seller != t.To || l.Price != t.Amount:
			return fmt.Errorf("%w: order for listing %s must pay %s to %s", ErrListing, t.Ref, FormatCredits(l.Price), l.Seller)
		}
		fee, err := st.fee(t.Amount)
		if err != nil {
			return err
		}
		need, err := st.need(t.Amount, fee)
		if err != nil {
			return err
		}
		if st.Balances[t.From] < need {
			return fmt.Errorf("%w: %s has %s, needs %s", ErrInsufficientFunds, t.From,
				FormatCredits(st.Balances[t.From]), FormatCredits(need))
		}
		st.add(t.From, -need)
		o := Order{
			ID: t.ID, Listing: t.Ref, Buyer: t.From, Seller: t.To, Price: t.Amount, Fee: fee,
			BuyerKey: t.Data, Voters: sortedKeys(l.Sealed), Created: st.Clock,
			Deadline: st.Clock + int64(OrderTimeout), State: OrderPending,
		}
		if st.Rules >= RulesV2 {
			o.Commit = l.Commit
		}
		st.Orders[t.ID] = o
		rec.Amount, rec.Fee = t.Amount, fee
	case KindRelease, KindRefund:
		o, ok := st.Orders[t.Ref]
		if !ok {
			return fmt.Errorf("%w: order %s", ErrNotFound, t.Ref)
		}
		if o.State != OrderPending {
			return fmt.Errorf("%w: order %s is %s", ErrSettled, o.ID, o.State)
		}
		voter := slices.Contains(o.Voters, t.From)
		if st.Rules >= RulesV2 {
			// Only the ledger's current voters settle; whom the seller
			// sealed its key to decides nothing.
			voter = slices.Contains(st.Voters, t.From)
		}
		if t.Kind == KindRelease {
			if !voter {
				return fmt.Errorf("%w: %s may not release order %s: only a current ledger voter may", ErrNotPermitted, t.From, o.ID)
			}
			if t.To != o.Seller {
				return fmt.Errorf("%w: release of order %s must pay its seller", ErrInvalid, o.ID)
			}
			sealed := t.Data
			if st.Rules >= RulesV2 {
				rel, err := DecodeRelease(t.Data)
				if err != nil {
					return err
				}
				commit := o.Commit
				if commit == nil { // an order placed under RulesV1
					commit = st.Listings[o.Listing].Commit
				}
				if sum := sha256.Sum256(rel.Key); !bytes.Equal(sum[:], commit) {
					return fmt.Errorf("%w: the key released for order %s does not match the listing's commitment", ErrNotPermitted, o.ID)
				}
				sealed = rel.Box
			}
			st.add(o.Seller, o.Price)
			if o.Fee > 0 {
				st.add(st.Genesis.Operator, o.Fee)
			}
			o.State, o.SealedKey = OrderReleased, sealed
			rec.Amount, rec.Fee = o.Price, o.Fee
		} else {
			if t.To != o.Buyer {
				return fmt.Errorf("%w: refund of order %s must pay its buyer", ErrInvalid, o.ID)
			}
			if !voter && !(t.From == o.Buyer && st.Clock > o.Deadline) {
				return fmt.Errorf("%w: %s may not refund order %s (buyers may after %s)", ErrNotPermitted, t.From, o.ID,
					time.Unix(0, o.Deadline).UTC().Format(time.RFC3339))
			}
			st.add(o.Buyer, o.Price+o.Fee)
			o.State = OrderRefunded
			rec.Amount = o.Price + o.Fee
		}
		o.Reason, o.Settled = t.Memo, st.Clock
		st.Orders[o.ID] = o
	case KindRate:
		o, ok := st.Orders[t.Ref]
		switch {
		case !ok:
			return fmt.Errorf("%w: order %s", ErrNotFound, t.Ref)
		case o.Buyer != t.From || o.Seller != t.To:
			return fmt.Errorf("%w: only the buyer of order %s may rate its seller", ErrNotPermitted, o.ID)
		case o.State != OrderReleased || o.Rated:
			return fmt.Errorf("%w: order %s is %s (rated: %v); only a completed purchase is rated, once", ErrSettled, o.ID, o.State, o.Rated)
		}
		o.Rated = true
		st.Orders[o.ID] = o
		rs := st.Ratings[o.Seller]
		if len(rs) >= ratingsLimit {
			rs = rs[len(rs)-ratingsLimit+1:]
		}
		// Copy on write: snapshots share the old slice.
		st.Ratings[o.Seller] = append(slices.Clip(rs), Rating{Order: o.ID, Buyer: o.Buyer, Seller: o.Seller,
			Stars: int(t.Amount), Comment: t.Memo, Time: st.Clock})
		rec.Amount = t.Amount
	case KindSponsor:
		l, ok := st.Listings[t.Ref]
		switch {
		case !ok:
			return fmt.Errorf("%w: listing %s", ErrNotFound, t.Ref)
		case l.Seller != t.From:
			return fmt.Errorf("%w: only the seller sponsors listing %s", ErrNotPermitted, t.Ref)
		case st.Genesis.Operator == "" || t.To != st.Genesis.Operator:
			return fmt.Errorf("%w: sponsorship is paid to the operator", ErrInvalid)
		case st.Balances[t.From] < t.Amount:
			return fmt.Errorf("%w: %s has %s, needs %s", ErrInsufficientFunds, t.From,
				FormatCredits(st.Balances[t.From]), FormatCredits(t.Amount))
		}
		st.add(t.From, -t.Amount)
		st.add(t.To, t.Amount)
		l.Sponsored += t.Amount
		st.Listings[t.Ref] = l
		rec.Amount = t.Amount
	default:
		return fmt.Errorf("%w: kind %d", ErrInvalid, t.Kind)
	}
	return nil
}

// Release is the Data of a KindRelease under RulesV2: the content key
// itself, which every voter checks against the order's commitment, and
// the key sealed to the buyer's one-time key, which the order keeps.
type Release struct {
	Key []byte
	Box []byte
}

// releaseVersion starts an encoded Release.
const releaseVersion = 2

// Encode returns the binary form: a version byte, then the key and the box,
// each uvarint-length-prefixed.
func (r Release) Encode() []byte {
	b := []byte{releaseVersion}
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Box)))
	return append(b, r.Box...)
}

// DecodeRelease parses and bounds-checks a Release (errors wrap ErrInvalid).
func DecodeRelease(b []byte) (Release, error) {
	if len(b) == 0 || b[0] != releaseVersion {
		return Release{}, fmt.Errorf("%w: release: not a version %d release (key and sealed key)", ErrInvalid, releaseVersion)
	}
	r := reader{b: b[1:]}
	key := r.bytes(maxSealedKey)
	box := r.bytes(maxSealedKey)
	switch {
	case r.err != nil:
		return Release{}, fmt.Errorf("%w: release: %v", ErrInvalid, r.err)
	case len(r.b) != 0:
		return Release{}, fmt.Errorf("%w: release: %d trailing bytes", ErrInvalid, len(r.b))
	case len(key) == 0 || len(box) == 0:
		return Release{}, fmt.Errorf("%w: release: empty key or sealed key", ErrInvalid)
	}
	return Release{Key: append([]byte(nil), key...), Box: append([]byte(nil), box...)}, nil
}

// refuseReplay decides what a transfer whose ID already applied gets: a
// purchase is refused with ErrReplayed (a buyer's signed order placed
// again, by whoever captured it, is an error the caller must see), any
// other kind returns nil so the original receipt answers a retry by the
// same signer (under RulesV2 only one with the same content, see
// state.replay).
func refuseReplay(t *SignedTransfer, orig Receipt) error {
	if t.Kind != KindBuy {
		return nil
	}
	return fmt.Errorf("%w: order %s already placed (ledger index %d)", ErrReplayed, t.ID, orig.Index)
}

// escrow is the total held in pending orders.
func (st *state) escrow() int64 {
	var sum int64
	for _, o := range st.Orders {
		if o.State == OrderPending {
			sum += o.Price + o.Fee
		}
	}
	return sum
}

// Escrow returns the credits held in escrow by pending orders.
func (f *FSM) Escrow() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.escrow()
}

// MarketListing returns a registered listing.
func (f *FSM) MarketListing(id string) (MarketListing, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return MarketListing{}, ErrNoLedger
	}
	l, ok := f.st.Listings[id]
	if !ok {
		return MarketListing{}, fmt.Errorf("%w: listing %s", ErrNotFound, id)
	}
	return l, nil
}

// Order returns an order.
func (f *FSM) Order(id string) (Order, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return Order{}, ErrNoLedger
	}
	o, ok := f.st.Orders[id]
	if !ok {
		return Order{}, fmt.Errorf("%w: order %s", ErrNotFound, id)
	}
	return o, nil
}

// Orders returns the orders where acct is buyer or seller, newest first
// (at most maxOrdersReply).
func (f *FSM) Orders(acct string) ([]Order, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return nil, ErrNoLedger
	}
	var out []Order
	for _, o := range f.st.Orders {
		if o.Buyer == acct || o.Seller == acct {
			out = append(out, o)
		}
	}
	sortOrders(out)
	if len(out) > maxOrdersReply {
		out = out[:maxOrdersReply]
	}
	return out, nil
}

// PendingOrders returns every pending order, oldest first.
func (f *FSM) PendingOrders() []Order {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Order
	for _, o := range f.st.Orders {
		if o.State == OrderPending {
			out = append(out, o)
		}
	}
	sortOrders(out)
	slices.Reverse(out)
	return out
}

// Ratings returns the ratings of a seller, newest first.
func (f *FSM) Ratings(seller string) ([]Rating, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return nil, ErrNoLedger
	}
	rs := slices.Clone(f.st.Ratings[seller])
	slices.Reverse(rs)
	return rs, nil
}

// sortOrders sorts newest first, by ID within one ledger time.
func sortOrders(os []Order) {
	sort.Slice(os, func(i, j int) bool {
		if os[i].Created != os[j].Created {
			return os[i].Created > os[j].Created
		}
		return os[i].ID < os[j].ID
	})
}

// operator returns the genesis operator ("" before genesis or if none).
func (f *FSM) operator() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return ""
	}
	return f.st.Genesis.Operator
}

// String names the kind: transfer, grant, list, unlist, buy, release,
// refund, rate, sponsor.
func (k Kind) String() string {
	names := [...]string{"transfer", "grant", "list", "unlist", "buy", "release", "refund", "rate", "sponsor"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind%d", k)
}
