package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/sluicehq/sluice/coordinator/api"
)

// clusterCmd shows the coordinator group, or changes its membership:
// `sluice cluster`, `sluice cluster join ID RAFTADDR [URL]`,
// `sluice cluster remove ID`.
func clusterCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "cluster")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c := cf.client()
	if len(pos) > 0 {
		switch {
		case pos[0] == "join" && (len(pos) == 3 || len(pos) == 4):
			req := api.JoinRequest{ID: pos[1], RaftAddr: pos[2]}
			if len(pos) == 4 {
				req.URL = pos[3]
			}
			return c.Join(ctx, req)
		case pos[0] == "remove" && len(pos) == 2:
			return c.Remove(ctx, pos[1])
		default:
			return usageError{errors.New("usage: sluice cluster [join ID RAFTADDR [URL] | remove ID]")}
		}
	}
	cl, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(o, cl)
	}
	fmt.Fprintf(o.Stdout, "leader %s, term %d, last applied %d (answered by %s, %s)\n", orDash(cl.Leader), cl.Term, cl.LastApplied, cl.Node, cl.State)
	if cl.Stale {
		fmt.Fprintln(o.Stdout, "no leader: this view may be stale")
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAFT\tAPI\tVOTER\tLEADER")
	for _, m := range cl.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\n", m.ID, m.RaftAddr, orDash(m.URL), m.Voter, m.Leader)
	}
	fmt.Fprintln(tw, "\nAGENT\tURL\tSLOTS\tUSED\t")
	for _, a := range cl.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", a.ID, a.URL, a.Slots, a.UsedSlots)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
