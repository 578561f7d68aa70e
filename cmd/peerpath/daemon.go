package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/node"
)

// newIdentityUsage is the help of --new-identity (daemon and init).
const newIdentityUsage = "create a new identity key (a new peer ID) when identity.key is missing from a home that already holds state; without it such a home is refused"

func initCmd(g *globals) *cobra.Command {
	var newIdentity bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create the node's home: identity key, API token and a commented config file",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			home, err := config.ResolveHome(g.home)
			if err != nil {
				return err
			}
			id, err := node.InitWith(home, node.InitOptions{NewIdentity: newIdentity})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(c.OutOrStdout(), map[string]string{"id": id.String()})
			}
			fmt.Fprintf(c.OutOrStdout(), "peer ID %s\nhome    %s\nconfig  %s\n", id, home, home.Path(config.FileConfig))
			return nil
		},
	}
	c.Flags().BoolVar(&newIdentity, "new-identity", false, newIdentityUsage)
	return c
}

// daemonFlags binds the daemon's flags; each overrides its config key when
// given.
type daemonFlags struct {
	cfg         config.Config
	newIdentity bool
}

func (d *daemonFlags) bind(fs *pflag.FlagSet) {
	def := config.Default()
	fs.StringArrayVar(&d.cfg.Listen, "listen", nil, "libp2p multiaddr to listen on (repeatable; default TCP and QUIC on port 4101)")
	fs.StringVar(&d.cfg.API, "api", def.API, "HOST:PORT of the local API; port 0 picks a free one")
	fs.StringArrayVar(&d.cfg.Bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	fs.BoolVar(&d.cfg.NoMDNS, "no-mdns", false, "turn off LAN discovery")
	fs.BoolVar(&d.cfg.NoPortMap, "no-port-map", false, "don't ask the router (UPnP/NAT-PMP) to forward a port")
	fs.BoolVar(&d.cfg.NoRelayService, "no-relay-service", false, "don't relay for peers behind NAT when publicly reachable")
	fs.StringVar(&d.cfg.SwarmKey, "swarm-key", "", "join the private network of this pre-shared key file")
	fs.StringVar(&d.cfg.AllowPeers, "allow-peers", "", "file of allowed peer IDs, one a line; all others are refused")
	fs.StringVar(&d.cfg.LogLevel, "log-level", def.LogLevel, "debug, info, warn or error")
	fs.StringVar(&d.cfg.LogFormat, "log-format", def.LogFormat, "text or json")
	fs.Int64Var(&d.cfg.MaxUpload, "max-upload", 0, "upload limit in bytes/s (0 = unlimited)")
	fs.Int64Var(&d.cfg.MaxDownload, "max-download", 0, "download limit in bytes/s (0 = unlimited)")
	fs.BoolVar(&d.cfg.NoSeed, "no-seed", false, "don't serve what this node downloads")
	fs.BoolVar(&d.cfg.Invisible, "invisible", false, "contacts see this node offline (presence opt-out)")
	fs.StringVar(&d.cfg.PricePerGiB, "price-per-gib", def.PricePerGiB, "traffic billing: credits per GiB paid for downloads through signed receipts (0 = off)")
	fs.StringVar(&d.cfg.ReceiptEvery, "receipt-every", def.ReceiptEvery, "how often to send traffic receipts to the peers that served this node")
	fs.StringVar(&d.cfg.SettleEvery, "settle-every", def.SettleEvery, "how often to settle the payments in receipts received on the ledger")
	fs.BoolVar(&d.cfg.Worker, "worker", false, "lend this node's CPU to other peers' jobs")
	fs.IntVar(&d.cfg.WorkerCPUs, "cpus", 0, "worker: units run at once (0 = 1)")
	fs.BoolVar(&d.cfg.WorkerIdleOnly, "idle-only", false, "worker: run units only while the machine is otherwise idle")
	fs.Var(&bytesFlag{&d.cfg.WorkerMaxMemory}, "max-memory", "worker: refuse jobs whose units may use more memory (e.g. 512MiB; default half the RAM shared by --cpus)")
	fs.BoolVar(&d.cfg.LedgerVoter, "ledger-voter", false, "be a voter of the credits ledger")
	fs.StringSliceVar(&d.cfg.LedgerVoters, "ledger-voters", nil, "peer IDs of ledger voters, comma-separated; a fresh voter accepts an invitation into a ledger only from them (without them: from its --bootstrap peers)")
	fs.BoolVar(&d.newIdentity, "new-identity", false, newIdentityUsage)
}

// apply overrides file with the flags the user set.
func (d *daemonFlags) apply(fs *pflag.FlagSet, file config.Config) config.Config {
	out := file
	set := func(name string, f func()) {
		if fs.Changed(name) {
			f()
		}
	}
	set("listen", func() { out.Listen = d.cfg.Listen })
	set("api", func() { out.API = d.cfg.API })
	set("bootstrap", func() { out.Bootstrap = d.cfg.Bootstrap })
	set("no-mdns", func() { out.NoMDNS = d.cfg.NoMDNS })
	set("no-port-map", func() { out.NoPortMap = d.cfg.NoPortMap })
	set("no-relay-service", func() { out.NoRelayService = d.cfg.NoRelayService })
	set("swarm-key", func() { out.SwarmKey = d.cfg.SwarmKey })
	set("allow-peers", func() { out.AllowPeers = d.cfg.AllowPeers })
	set("log-level", func() { out.LogLevel = d.cfg.LogLevel })
	set("log-format", func() { out.LogFormat = d.cfg.LogFormat })
	set("max-upload", func() { out.MaxUpload = d.cfg.MaxUpload })
	set("max-download", func() { out.MaxDownload = d.cfg.MaxDownload })
	set("no-seed", func() { out.NoSeed = d.cfg.NoSeed })
	set("invisible", func() { out.Invisible = d.cfg.Invisible })
	set("price-per-gib", func() { out.PricePerGiB = d.cfg.PricePerGiB })
	set("receipt-every", func() { out.ReceiptEvery = d.cfg.ReceiptEvery })
	set("settle-every", func() { out.SettleEvery = d.cfg.SettleEvery })
	set("worker", func() { out.Worker = d.cfg.Worker })
	set("cpus", func() { out.WorkerCPUs = d.cfg.WorkerCPUs })
	set("idle-only", func() { out.WorkerIdleOnly = d.cfg.WorkerIdleOnly })
	set("max-memory", func() { out.WorkerMaxMemory = d.cfg.WorkerMaxMemory })
	set("ledger-voter", func() { out.LedgerVoter = d.cfg.LedgerVoter })
	set("ledger-voters", func() { out.LedgerVoters = d.cfg.LedgerVoters })
	return out
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func daemonCmd(g *globals) *cobra.Command {
	d := &daemonFlags{}
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node (creates the home on first run)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			home, err := config.ResolveHome(g.home)
			if err != nil {
				return err
			}
			if _, err := node.InitWith(home, node.InitOptions{NewIdentity: d.newIdentity}); err != nil {
				return err
			}
			file, err := config.Load(home)
			if err != nil {
				return err
			}
			cfg := d.apply(c.Flags(), file)
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := newLogger(c.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := node.New(ctx, node.Options{Home: home, Config: cfg, Logger: log, Version: versionString(), NewIdentity: d.newIdentity})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "peerpath daemon %s\napi %s\n", n.ID(), n.APIURL())
			done := make(chan error, 1)
			go func() { done <- n.Serve(ctx) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
			}
			log.Info("shutting down")
			select {
			case err := <-done:
				return err
			case <-time.After(5 * time.Second):
				return fmt.Errorf("shutdown took longer than 5s; exiting anyway")
			}
		},
	}
	d.bind(c.Flags())
	return c
}
