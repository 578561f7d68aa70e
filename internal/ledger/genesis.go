package ledger

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultIDWindow is how long applied transfer IDs are remembered when
// Genesis.IDWindow is zero. Each remembered ID costs about 200 bytes on
// every voter and in every snapshot, so the window bounds that memory to
// (transfers per second) x window; it must also exceed clock skew between
// payers and the leader plus the longest a client keeps retrying.
const DefaultIDWindow = 15 * time.Minute

// Genesis is the initial state and the replicated configuration of a ledger.
// It is written once, through the raft log, by Create; every voter applies
// the same genesis, so all agree on fee and grant rules.
type Genesis struct {
	// Balances are the initial balances in micro-credits; their sum is the
	// initial supply.
	Balances map[string]int64 `json:"balances"`
	// FeeBPS is the operator fee in basis points (1/10,000) of the amount,
	// rounded down, paid by the payer on top of the amount. Zero: no fee.
	FeeBPS uint32 `json:"fee_bps,omitempty"`
	// Operator receives the fees. Required when FeeBPS > 0.
	Operator string `json:"operator,omitempty"`
	// Grant, if set, lets each new account ask once for Amount new credits
	// (issuance), at most MaxPerHour grants per hour of ledger time.
	Grant *GrantConfig `json:"grant,omitempty"`
	// IDWindow bounds the memory of applied IDs: a transfer whose Time is
	// more than IDWindow away from the ledger clock is refused (ErrExpired),
	// and applied IDs older than that are forgotten. Zero: DefaultIDWindow.
	IDWindow time.Duration `json:"id_window,omitempty"`
}

// GrantConfig configures issuance for new accounts.
type GrantConfig struct {
	// Amount in micro-credits given to each new account, once.
	Amount int64 `json:"amount"`
	// MaxPerHour caps the grants per hour of ledger time, network-wide.
	MaxPerHour int `json:"max_per_hour"`
}

// Supply returns the sum of the genesis balances.
func (g *Genesis) Supply() int64 {
	var s int64
	for _, v := range g.Balances {
		s += v
	}
	return s
}

// Validate checks accounts are peer IDs, balances non-negative, the supply
// fits in int64 and the fee and grant settings are sane.
func (g *Genesis) Validate() error {
	var sum int64
	for acct, v := range g.Balances {
		if _, err := peer.Decode(acct); err != nil {
			return fmt.Errorf("%w: genesis account %q", ErrUnknownAccount, acct)
		}
		if v < 0 || sum > math.MaxInt64-v {
			return fmt.Errorf("ledger: genesis balance of %s out of range", acct)
		}
		sum += v
	}
	if g.FeeBPS > 10000 {
		return fmt.Errorf("ledger: fee %d bps over 10000", g.FeeBPS)
	}
	if g.FeeBPS > 0 || g.Operator != "" {
		if _, err := peer.Decode(g.Operator); err != nil {
			return fmt.Errorf("%w: operator %q", ErrUnknownAccount, g.Operator)
		}
	}
	if g.Grant != nil && (g.Grant.Amount <= 0 || g.Grant.MaxPerHour <= 0) {
		return fmt.Errorf("ledger: grant needs a positive amount and max_per_hour")
	}
	if g.IDWindow < 0 {
		return fmt.Errorf("ledger: negative id window")
	}
	return nil
}

func (g *Genesis) window() int64 {
	if g.IDWindow <= 0 {
		return int64(DefaultIDWindow)
	}
	return int64(g.IDWindow)
}

// genesisFile is the human form of a genesis file: amounts in credits.
type genesisFile struct {
	Balances map[string]json.Number `json:"balances"`
	FeeBPS   uint32                 `json:"fee_bps"`
	Operator string                 `json:"operator"`
	Grant    *struct {
		Amount     json.Number `json:"amount"`
		MaxPerHour int         `json:"max_per_hour"`
	} `json:"grant"`
	IDWindow string `json:"id_window"`
}

// ParseGenesis reads a genesis file with amounts in credits. Two forms are
// accepted: a plain map {"PEERID": 100, "PEERID2": "2.5"}, or an object
// {"balances": {...}, "fee_bps": 50, "operator": "PEERID",
// "grant": {"amount": 10, "max_per_hour": 100}, "id_window": "1h"}.
// The result is validated.
func ParseGenesis(data []byte) (Genesis, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return Genesis{}, fmt.Errorf("ledger: genesis: %w", err)
	}
	var f genesisFile
	if _, ok := probe["balances"]; ok {
		if err := json.Unmarshal(data, &f); err != nil {
			return Genesis{}, fmt.Errorf("ledger: genesis: %w", err)
		}
	} else if err := json.Unmarshal(data, &f.Balances); err != nil {
		return Genesis{}, fmt.Errorf("ledger: genesis: %w", err)
	}
	g := Genesis{Balances: make(map[string]int64, len(f.Balances)), FeeBPS: f.FeeBPS, Operator: f.Operator}
	keys := make([]string, 0, len(f.Balances))
	for k := range f.Balances {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := ParseCredits(string(f.Balances[k]))
		if err != nil {
			return Genesis{}, fmt.Errorf("ledger: genesis balance of %s: %w", k, err)
		}
		g.Balances[k] = v
	}
	if f.Grant != nil {
		amt, err := ParseCredits(string(f.Grant.Amount))
		if err != nil {
			return Genesis{}, fmt.Errorf("ledger: genesis grant: %w", err)
		}
		g.Grant = &GrantConfig{Amount: amt, MaxPerHour: f.Grant.MaxPerHour}
	}
	if f.IDWindow != "" {
		d, err := time.ParseDuration(f.IDWindow)
		if err != nil {
			return Genesis{}, fmt.Errorf("ledger: genesis id_window: %w", err)
		}
		g.IDWindow = d
	}
	if err := g.Validate(); err != nil {
		return Genesis{}, err
	}
	return g, nil
}
