package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
)

// clientFlags are shared by the commands that talk to a running cluster.
type clientFlags struct {
	url *string
	sec *securityFlags
}

func addClientFlags(o *Options, name string) (*clientFlags, *flag.FlagSet) {
	fs := newFlagSet(name, o)
	return &clientFlags{
		url: fs.String("coordinator", envOr("SLUICE_COORDINATOR", "http://127.0.0.1:8081"), "coordinator API URL, or the URLs of a group's nodes separated by commas (env SLUICE_COORDINATOR)"),
		sec: addSecurityFlags(fs, false),
	}, fs
}

// client tries every listed node, for up to 10 s while a group elects a
// leader. A token file or CA that cannot be read fails every call.
func (c *clientFlags) client() *api.Client {
	token, err := c.sec.tokenValue()
	hc, herr := c.sec.httpClient()
	cl := api.NewClient(*c.url, token)
	cl.Retry = 10 * time.Second
	if err = errors.Join(err, herr); err != nil {
		cl.HTTP = &http.Client{Transport: failingTransport{err}}
		cl.Retry = 0
	} else {
		cl.HTTP = hc
	}
	return cl
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

func submitCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "submit")
	wait := fs.Bool("wait", false, "follow the job until it ends, showing progress")
	fromSavepoint := fs.String("from-savepoint", "", "start from this savepoint (its URL or its path in the bucket)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("need exactly one job spec file")}
	}
	spec, err := jobspec.Load(pos[0])
	if err != nil {
		return err
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	c := cf.client()
	id, err := c.SubmitFromSavepoint(ctx, body, "application/json", *fromSavepoint)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Stdout, id)
	if !*wait {
		return nil
	}
	job, err := follow(ctx, c, id, o, true)
	if err != nil {
		return err
	}
	if job.State != api.JobFinished {
		return fmt.Errorf("job %s %s: %s", id, job.State, job.Error)
	}
	return nil
}

func jobsCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "jobs")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	jobs, err := cf.client().Jobs(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(o, jobs)
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tSUBMITTED\tDURATION")
	for _, j := range jobs {
		d := "-"
		if j.EndedAt != nil {
			d = j.EndedAt.Sub(j.SubmittedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.State, j.SubmittedAt.Local().Format(time.DateTime), d)
	}
	return tw.Flush()
}

func statusCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "status")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("need exactly one job id")}
	}
	j, err := cf.client().Job(ctx, pos[0])
	if err != nil {
		return err
	}
	return printJSON(o, j)
}

func cancelCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "cancel")
	withSavepoint := fs.Bool("savepoint", false, "take a savepoint first, then cancel (stop-with-savepoint)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("need exactly one job id")}
	}
	if *withSavepoint {
		sp, err := cf.client().Savepoint(ctx, pos[0], true)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "savepoint %d: %s\n%s CANCELING\n", sp.Checkpoint, sp.URL, pos[0])
		return nil
	}
	r, err := cf.client().Cancel(ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "%s %s\n", r.ID, r.State)
	return nil
}

func printJSON(o *Options, v any) error {
	enc := json.NewEncoder(o.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func savepointCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "savepoint")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("need exactly one job id")}
	}
	sp, err := cf.client().Savepoint(ctx, pos[0], false)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "savepoint %d: %s\n", sp.Checkpoint, sp.URL)
	return nil
}

func checkpointsCmd(ctx context.Context, o *Options, args []string) error {
	cf, fs := addClientFlags(o, "checkpoints")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("need exactly one job id")}
	}
	cps, err := cf.client().Checkpoints(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(o, cps)
	}
	fmt.Fprintf(o.Stdout, "%d completed, %d failed\n", cps.Completed, cps.Failed)
	tw := tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tTRIGGERED\tDURATION\tSIZE\tACKS\tPATH / FAILURE")
	for _, c := range cps.History {
		info := c.Path
		if c.Failure != "" {
			info = c.Failure
		}
		kind := c.Status
		if c.Savepoint {
			kind += " (savepoint)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%dms\t%d\t%d/%d\t%s\n", c.ID, kind, c.TriggeredAt.Local().Format("15:04:05.000"), c.DurationMs, c.Bytes, c.Acks, c.Subtasks, info)
	}
	return tw.Flush()
}
