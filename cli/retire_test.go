package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestStatusOfRetiredJob: a cluster that keeps no ended job retires a job
// as soon as it is archived; `sluice status` still shows it, from its
// archive, `sluice jobs` no longer lists it, and `sluice cancel` says it
// ended.
func TestStatusOfRetiredJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	out := &syncBuffer{}
	cl, err := startCluster(context.Background(), clusterConfig{
		DataDir: t.TempDir(), Registry: testRegistry(), Stdout: out, Logger: testLogger(t),
		RetainEnded: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := &testCluster{cluster: cl, client: api.NewClient(cl.URL, ""), stdout: out}
	id := c.submit(t, map[string]any{
		"name":     "retired",
		"vertices": []map[string]any{{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 100}}, {"id": "out", "operator": "print"}},
		"edges":    []map[string]any{{"from": "gen", "to": "out"}},
	})
	waitFor(t, time.Minute, "the job to end and be retired", func() bool {
		_, ok := cl.store.Job(id)
		return !ok
	})
	sluice := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append([]string{args[0], "--coordinator", cl.URL}, args[1:]...), Options{Registry: testRegistry(), Stdout: &stdout, Stderr: &stderr})
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := sluice("status", id)
	var j api.Job
	if code != 0 || json.Unmarshal([]byte(stdout), &j) != nil || j.ID != id || j.State != api.JobFinished || j.Vertices[0].Metrics.RecordsOut != 100 {
		t.Fatalf("sluice status of a retired job: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := sluice("jobs"); code != 0 || strings.Contains(stdout, id) {
		t.Fatalf("sluice jobs lists a retired job: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := sluice("cancel", id); code != 1 || !strings.Contains(stderr, "409") || !strings.Contains(stderr, "ended (FINISHED)") {
		t.Fatalf("sluice cancel of a retired job: exit %d, %s", code, stderr)
	}
}

// TestRetentionFlagsRefuseNegative: negative retention flags are usage errors.
func TestRetentionFlagsRefuseNegative(t *testing.T) {
	for _, args := range [][]string{{"local", "--retain-ended", "-1s"}, {"coordinator", "--bucket", "mem://", "--retain-ended-max", "-1"}} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), args, Options{Registry: testRegistry(), Stdout: &bytes.Buffer{}, Stderr: &stderr}); code != 2 || !strings.Contains(stderr.String(), "want 0 or more") {
			t.Errorf("sluice %s: exit %d, %s", strings.Join(args, " "), code, stderr.String())
		}
	}
}
