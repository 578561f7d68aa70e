// Package config defines a node's configuration file and its home folder.
//
// A node's home (default ~/.peerpath, or $PEERPATH_HOME, or --home) holds:
//
//	config.toml   the configuration, written by init with every default shown
//	identity.key  the node's Ed25519 private key (mode 0600)
//	api-token     the bearer token of the local API (mode 0600)
//	api           the API's base URL, present while a daemon runs
//	daemon.lock   held (flock) by the running daemon
//	node.db       the node's SQLite database
//
// Defaults live in code ([Default]); a user's file may be sparse. Command
// line flags override the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/BurntSushi/toml"
)

// Default ports of a node.
const (
	DefaultP2PPort = 4101
	DefaultAPIAddr = "127.0.0.1:5101"
)

// Config is a node's configuration. The toml tags are the config keys; each
// daemon flag of the same name overrides its key.
type Config struct {
	// Listen holds the libp2p multiaddrs to listen on. Empty means TCP and
	// QUIC on all interfaces, port 4101.
	Listen []string `toml:"listen"`
	// API is the HOST:PORT of the local HTTP API; port 0 picks a free port.
	API string `toml:"api"`
	// Bootstrap peers, multiaddrs ending in /p2p/PEERID.
	Bootstrap []string `toml:"bootstrap"`
	// NoMDNS turns off LAN discovery.
	NoMDNS bool `toml:"no_mdns"`
	// NoPortMap turns off UPnP / NAT-PMP port mapping on the router.
	NoPortMap bool `toml:"no_port_map"`
	// NoRelayService stops the node from relaying for peers behind NAT
	// when it is itself publicly reachable.
	NoRelayService bool `toml:"no_relay_service"`
	// SwarmKey is the path of a private network's pre-shared key. Empty
	// means the public peerpath network.
	SwarmKey string `toml:"swarm_key"`
	// AllowPeers is the path of a file of allowed peer IDs, one a line.
	// Empty allows every peer.
	AllowPeers string `toml:"allow_peers"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format"`
	// MaxUpload and MaxDownload cap bandwidth in bytes per second; 0 means
	// unlimited.
	MaxUpload   int64 `toml:"max_upload"`
	MaxDownload int64 `toml:"max_download"`
	// NoSeed stops the node from serving what it downloaded.
	NoSeed bool `toml:"no_seed"`
	// Invisible makes contacts see this node offline (presence opt-out).
	Invisible bool `toml:"invisible"`
	// PricePerGiB turns traffic billing on: credits (a decimal number) per
	// GiB this node pays for what it downloads, through signed receipts the
	// serving peers settle on the ledger; peers that pay at least this
	// price are served first when upload is scarce. "0" or empty: off.
	PricePerGiB string `toml:"price_per_gib"`
	// ReceiptEvery is how often traffic receipts are sent to the peers that
	// served this node (a Go duration, e.g. "10s").
	ReceiptEvery string `toml:"receipt_every"`
	// SettleEvery is how often the payments in receipts received are
	// submitted to the ledger (a Go duration).
	SettleEvery string `toml:"settle_every"`
	// Worker lends this node's idle CPU to other peers' jobs.
	Worker bool `toml:"worker"`
	// WorkerCPUs is how many units run at once; 0 means 1.
	WorkerCPUs int `toml:"worker_cpus"`
	// WorkerIdleOnly runs units only while the machine's own load leaves
	// cores idle.
	WorkerIdleOnly bool `toml:"worker_idle_only"`
	// WorkerMaxMemory refuses jobs whose units may use more memory, in
	// bytes; 0 means half of the machine's RAM shared by the units that run
	// at once (WorkerCPUs).
	WorkerMaxMemory uint64 `toml:"worker_max_memory"`
	// SandboxInProcess runs units inside the daemon instead of in child
	// processes. Child processes are faster (no loop checks) and can stop any
	// runaway guest; in-process is for embedding peerpath in a program that
	// cannot re-execute itself.
	SandboxInProcess bool `toml:"sandbox_in_process"`
	// LedgerVoter makes this node a voter of the credits ledger.
	LedgerVoter bool `toml:"ledger_voter"`
	// LedgerVoters lists peer IDs believed to be ledger voters, so a node
	// knows whom to ask first.
	LedgerVoters []string `toml:"ledger_voters"`
}

// DefaultListen is the listen set used when Config.Listen is empty.
var DefaultListen = []string{
	fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultP2PPort),
	fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultP2PPort),
	fmt.Sprintf("/ip6/::/tcp/%d", DefaultP2PPort),
	fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultP2PPort),
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Listen:       append([]string(nil), DefaultListen...),
		API:          DefaultAPIAddr,
		LogLevel:     "info",
		LogFormat:    "text",
		PricePerGiB:  "0",
		ReceiptEvery: "10s",
		SettleEvery:  "30s",
	}
}

// File names inside a node's home.
const (
	FileConfig   = "config.toml"
	FileIdentity = "identity.key"
	FileToken    = "api-token"
	FileAPI      = "api"
	FileLock     = "daemon.lock"
	FileDB       = "node.db"
)

// Home is a node's home folder.
type Home string

// Path returns the path of name inside the home.
func (h Home) Path(name string) string { return filepath.Join(string(h), name) }

// ResolveHome picks the home folder: flag if set, else $PEERPATH_HOME, else
// ~/.peerpath.
func ResolveHome(flag string) (Home, error) {
	if flag != "" {
		return Home(flag), nil
	}
	if env := os.Getenv("PEERPATH_HOME"); env != "" {
		return Home(env), nil
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config: no home folder: %w (set --home or PEERPATH_HOME)", err)
	}
	return Home(filepath.Join(dir, ".peerpath")), nil
}

// Load reads the home's config file over the defaults. A missing file gives
// the defaults.
func Load(h Home) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(h.Path(FileConfig))
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("config: %s: %w", h.Path(FileConfig), err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("config: %s: unknown keys: %s", h.Path(FileConfig), strings.Join(keys, ", "))
	}
	return cfg, cfg.Validate()
}

// Validate checks values that the type system doesn't.
func (c Config) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: log_format %q: want text or json", c.LogFormat)
	}
	if c.WorkerCPUs < 0 {
		return errors.New("config: worker_cpus must not be negative")
	}
	if c.MaxUpload < 0 || c.MaxDownload < 0 {
		return errors.New("config: max_upload and max_download must not be negative")
	}
	for key, v := range map[string]string{"receipt_every": c.ReceiptEvery, "settle_every": c.SettleEvery} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return fmt.Errorf("config: %s %q: want a positive duration such as \"30s\"", key, v)
		}
	}
	return nil
}

// Durations returns ReceiptEvery and SettleEvery parsed; zero for empty.
// Call Validate first.
func (c Config) Durations() (receiptEvery, settleEvery time.Duration) {
	receiptEvery, _ = time.ParseDuration(c.ReceiptEvery)
	settleEvery, _ = time.ParseDuration(c.SettleEvery)
	return receiptEvery, settleEvery
}

// fileTemplate is parsed at its first use, not at start: a daemon that
// does not write its config file never runs text/template (idle memory,
// docs/performance.md).
var fileTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("config").Funcs(template.FuncMap{
		"q": func(s string) string { return fmt.Sprintf("%q", s) },
		"list": func(l []string) string {
			q := make([]string, len(l))
			for i, s := range l {
				q[i] = fmt.Sprintf("%q", s)
			}
			return "[" + strings.Join(q, ", ") + "]"
		},
	}).Parse(`# peerpath node configuration.
# Every key is shown with its default value. A daemon flag of the same name
# (with - for _) overrides the key for that run.

# libp2p multiaddrs to listen on: TCP and QUIC on all interfaces, port 4101.
listen = {{list .Listen}}

# HOST:PORT of the local HTTP API (and web app). Port 0 picks a free port.
# Keep it on loopback: the API controls the node.
api = {{q .API}}

# Bootstrap peers: multiaddrs ending in /p2p/PEERID. The node learns the rest
# of the network from them through the DHT.
bootstrap = {{list .Bootstrap}}

# true turns off mDNS discovery of peers on the local network.
no_mdns = {{.NoMDNS}}

# true turns off asking the router (UPnP / NAT-PMP) to forward a port.
no_port_map = {{.NoPortMap}}

# A node that is publicly reachable relays, with small limits (2 minutes and
# 128 KiB per connection), for peers behind NAT, so others can reach them and
# hole punching can connect them directly. true turns this off. (Nodes
# behind NAT find relays among their peers whatever this says.)
no_relay_service = {{.NoRelayService}}

# Path of a private network's pre-shared key (see "peerpath swarm-key new").
# With a key the node talks only to peers holding the same key (TCP only).
swarm_key = {{q .SwarmKey}}

# Path of a file of allowed peer IDs, one a line. Empty allows every peer.
allow_peers = {{q .AllowPeers}}

# Logging: level debug, info, warn or error; format text or json.
log_level = {{q .LogLevel}}
log_format = {{q .LogFormat}}

# Bandwidth limits in bytes per second; 0 means unlimited.
max_upload = {{.MaxUpload}}
max_download = {{.MaxDownload}}

# true stops the node from serving files it downloaded.
no_seed = {{.NoSeed}}

# true makes contacts see this node offline (it still sends and receives).
invisible = {{.Invisible}}

# Traffic billing: credits per GiB this node pays for what it downloads ("0"
# is off). Downloaders sign receipts for the verified bytes they received;
# the serving peers settle them as ledger transfers every settle_every.
# When upload is scarce, peers that pay at least this price are served
# first, then peers that upload back.
price_per_gib = {{q .PricePerGiB}}
receipt_every = {{q .ReceiptEvery}}
settle_every = {{q .SettleEvery}}

# Volunteer compute: true lends this node's CPU to other peers' jobs, which
# run in a WebAssembly sandbox (no files, no network, capped memory and time).
worker = {{.Worker}}
# Units run at once (0 means 1).
worker_cpus = {{.WorkerCPUs}}
# true runs units only while the machine's own load leaves cores idle.
worker_idle_only = {{.WorkerIdleOnly}}
# Refuse jobs whose units may use more memory than this many bytes
# (0: half of the machine's RAM, shared by the units that run at once).
worker_max_memory = {{.WorkerMaxMemory}}

# true runs units inside the daemon instead of in killable child processes
# (slower, and a guest that never loops cannot be stopped on time).
sandbox_in_process = {{.SandboxInProcess}}

# true makes this node a voter of the replicated credits ledger (3 or 5 in a
# real network). Its raft log and snapshots live in HOME/ledger.
ledger_voter = {{.LedgerVoter}}

# Peer IDs of ledger voters, so this node knows whom to ask first.
ledger_voters = {{list .LedgerVoters}}
`))
})

// Render returns c as a commented config file.
func Render(c Config) []byte {
	var b bytes.Buffer
	if err := fileTemplate().Execute(&b, c); err != nil {
		panic(err) // the template is static and tested
	}
	return b.Bytes()
}
