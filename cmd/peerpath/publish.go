package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// publishTimeout bounds a publish, update or delete.
const publishTimeout = 30 * time.Minute

// docURLPrefix starts a published document's URL (publish.URLPrefix; the
// CLI reaches internal packages only through the API).
const docURLPrefix = "peerpath://doc/"

// publishedOut is what `publish` and `publish update` print: never the
// secret itself, which stays in the home (and in --secret-out's file).
type publishedOut struct {
	URL       string `json:"url"`
	CID       string `json:"cid"`
	K         int    `json:"k"`
	N         int    `json:"n"`
	Seq       uint64 `json:"seq"`
	Holders   int    `json:"holders"`
	OldShares int    `json:"old_shares,omitempty"`
	SecretOut string `json:"secret_out,omitempty"`
}

func printPublished(c *cobra.Command, g *globals, p api.Published, secretOut string) error {
	out := publishedOut{URL: p.URL, CID: p.CID, K: p.K, N: p.N, Seq: p.Seq, Holders: p.Holders, OldShares: p.OldShares, SecretOut: secretOut}
	if g.json {
		return printJSON(c.OutOrStdout(), out)
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "%s (version %d, %d of %d shares rebuild it, record kept by %d peers)\n", p.CID, p.Seq, p.K, p.N, p.Holders)
	if p.OldShares > 0 {
		fmt.Fprintf(w, "deleted %d shares of the previous version\n", p.OldShares)
	}
	fmt.Fprintf(w, "URL (anyone with it can fetch and read the document):\n%s\n", p.URL)
	if secretOut != "" {
		fmt.Fprintf(w, "secret (updates and deletes it) written to %s; this home keeps it too\n", secretOut)
	} else {
		fmt.Fprintln(w, "the secret that updates and deletes it is kept in this home (--secret-out FILE saves a copy)")
	}
	return nil
}

// writeSecret writes a publisher's secret to path, readable by its owner
// only, never over an existing file.
func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSecret reads a secret file written by --secret-out.
func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func publishCmd(g *globals) *cobra.Command {
	var (
		k, n      int
		secretOut string
	)
	c := &cobra.Command{
		Use:   "publish FILE [--k 3] [--n 10] [--secret-out FILE]",
		Short: "Publish a file: encrypted, spread over storing peers; its URL alone fetches it, its secret alone changes it",
		Long: `Publish a file so that it stays up with this node offline: it is encrypted,
cut into n shares of which any k rebuild it, and placed on n storing peers,
which never see the key. The URL it prints is all anyone needs to fetch it
(peerpath get URL -o PATH). The secret, kept in this home, is what
'publish update' and 'publish delete' need. This node pays the storing
peers' leases and renews them while it runs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if secretOut != "" {
				if secretOut, err = filepath.Abs(secretOut); err != nil {
					return err
				}
				if _, err := os.Lstat(secretOut); err == nil {
					return fmt.Errorf("%s exists: --secret-out writes a new file", secretOut)
				}
			}
			var res api.Published
			if err := g.run(c, publishTimeout, func(ctx context.Context, cl *api.Client) (err error) {
				res, err = cl.Publish(ctx, api.PublishRequest{Path: abs, K: k, N: n})
				return err
			}); err != nil {
				return err
			}
			if secretOut != "" {
				if err := writeSecret(secretOut, res.Secret); err != nil {
					return fmt.Errorf("published as %s, but the secret was not written (it is kept in this home): %w", res.URL, err)
				}
			}
			return printPublished(c, g, res, secretOut)
		},
	}
	c.Flags().IntVar(&k, "k", 3, "shares needed to rebuild the document")
	c.Flags().IntVar(&n, "n", 10, "shares made, each on a different storing peer")
	c.Flags().StringVar(&secretOut, "secret-out", "", "also write the publisher's secret to this new file (mode 0600)")
	c.AddCommand(publishUpdateCmd(g), publishDeleteCmd(g), publishListCmd(g))
	return c
}

func publishUpdateCmd(g *globals) *cobra.Command {
	var (
		k, n   int
		secret string
	)
	c := &cobra.Command{
		Use:   "update URL FILE [--secret FILE]",
		Short: "Replace a published document with FILE (same URL); needs its secret",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			sec, err := readSecret(secret)
			if err != nil {
				return err
			}
			var res api.Published
			if err := g.run(c, publishTimeout, func(ctx context.Context, cl *api.Client) (err error) {
				res, err = cl.PublishUpdate(ctx, api.PublishUpdateRequest{URL: args[0], Path: abs, Secret: sec, K: k, N: n})
				return err
			}); err != nil {
				return err
			}
			return printPublished(c, g, res, "")
		},
	}
	c.Flags().StringVar(&secret, "secret", "", "file holding the publisher's secret (default: the one this home keeps)")
	c.Flags().IntVar(&k, "k", 0, "shares needed to rebuild the new version (default: as before)")
	c.Flags().IntVar(&n, "n", 0, "shares made of the new version (default: as before)")
	return c
}

func publishDeleteCmd(g *globals) *cobra.Command {
	var secret string
	c := &cobra.Command{
		Use:   "delete URL [--secret FILE]",
		Short: "Delete a published document for good; needs its secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sec, err := readSecret(secret)
			if err != nil {
				return err
			}
			return query(g, c, publishTimeout, func(cl *api.Client, ctx context.Context) (api.PublishDeleted, error) {
				return cl.PublishDelete(ctx, api.PublishDeleteRequest{URL: args[0], Secret: sec})
			}, func(w io.Writer, r api.PublishDeleted) error {
				_, err := fmt.Fprintf(w, "deleted: %d storing peers keep the signed delete, %d shares dropped\n", r.Holders, r.Shares)
				return err
			})
		},
	}
	c.Flags().StringVar(&secret, "secret", "", "file holding the publisher's secret (default: the one this home keeps)")
	return c
}

func publishListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the documents this node published",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).PublishList, func(w io.Writer, l []api.PublishedDoc) error {
				if len(l) == 0 {
					_, err := fmt.Fprintln(w, "nothing published")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSIZE\tVERSION\tPUBLISHED\tURL")
				for _, d := range l {
					name := d.Name
					if d.Deleted {
						name += " (deleted)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", name, humanBytes(float64(d.Size)), d.Seq, d.Created.Local().Format(time.DateTime), d.URL)
				}
				return tw.Flush()
			})
		},
	}
}

// getDocument is `get URL`: a published document, fetched by its URL.
func getDocument(c *cobra.Command, g *globals, url, out string) error {
	req := api.PublishGetRequest{URL: url}
	if out != "" {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		req.Output = abs
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		req.Dir = wd
	}
	return query(g, c, 30*time.Minute, func(cl *api.Client, ctx context.Context) (api.PublishFetched, error) {
		return cl.PublishGet(ctx, req)
	}, func(w io.Writer, r api.PublishFetched) error {
		_, err := fmt.Fprintf(w, "%s (%s, version %d, %s)\n", r.Path, humanBytes(float64(r.Size)), r.Seq, r.CID)
		return err
	})
}
