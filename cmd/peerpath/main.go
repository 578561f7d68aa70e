// Command peerpath runs a peerpath node (peerpath daemon) and talks to a
// running one through its local API (every other command).
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
)

// Set with -ldflags "-X main.version=… -X main.commit=…" by release builds.
var (
	version = "0.1.0-dev"
	commit  = ""
)

func versionString() string {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return version + " (commit " + c + ")"
}

// exitError carries an exit status without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// A worker runs each unit in a child process of this same program (the
	// sandbox's isolated mode); such a child does its unit and exits here.
	sandbox.ServeChild()
	root := newRoot()
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "peerpath:", oneLine(err.Error()))
		os.Exit(1)
	}
}

// globals holds the flags every command shares.
type globals struct {
	home  string
	json  bool
	names peerNames // how tables show peers (names.go)
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "peerpath",
		Short:         "An equal peer of a network with no central server: share, search, compute, trade",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("peerpath {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.home, "home", "", "node home folder (default $PEERPATH_HOME or ~/.peerpath)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print JSON")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(
		initCmd(g),
		daemonCmd(g),
		idCmd(g),
		peersCmd(g),
		connectCmd(g),
		statusCmd(g),
		swarmKeyCmd(g),
		demoCmd(g),
		shareCmd(g),
		sharesCmd(g),
		unshareCmd(g),
		getCmd(g),
		walletCmd(g),
		meterCmd(g),
		limitsCmd(g),
		ledgerCmd(g),
		uiCmd(g),
		searchCmd(g),
		jobCmd(g),
		jobsCmd(g),
		workerCmd(g),
		marketCmd(g),
		blockCmd(g, true),
		blockCmd(g, false),
		serviceCmd(g),
		servicesCmd(g),
		nameCmd(g),
		presenceCmd(g),
		contactsCmd(g),
		neighboursCmd(g),
		sendCmd(g),
		sendsCmd(g),
		receiveCmd(g),
		msgCmd(g),
		groupCmd(g),
		storageCmd(g),
		policyCmd(g),
		backupCmd(g),
		publishCmd(g),
	)
	return root
}

// oneLine folds a multi-line error (libp2p's dial errors list every
// address) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
