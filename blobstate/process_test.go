package blobstate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/blobstate"
)

// helperEnv makes the test binary a write-once racer (see racer).
const helperEnv = "BLOBSTATE_TEST_RACER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(racer(dir))
	}
	os.Exit(m.Run())
}

// racer waits for its stdin to close, then tries to create race/<r> for
// every round r and prints the rounds it won.
func racer(dir string) int {
	b, err := blobstate.OpenBucket(context.Background(), dir, blobstate.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rounds, _ := strconv.Atoi(os.Getenv(helperEnv + "_ROUNDS"))
	_, _ = bufio.NewReader(os.Stdin).ReadByte() // released when the parent closes stdin
	for r := range rounds {
		err := b.WriteOnce(context.Background(), fmt.Sprintf("race/%d", r), []byte(strconv.Itoa(os.Getpid())))
		switch {
		case err == nil:
			fmt.Println(r)
		case !errors.Is(err, blobstate.ErrExists):
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// TestFileWriteOnceAcrossProcesses races processes, as executors are, to
// create the same objects in a file:// bucket: each object has exactly one
// creator.
func TestFileWriteOnceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, rounds = 6, 200
	dir := t.TempDir()
	type proc struct {
		cmd *exec.Cmd
		out strings.Builder
	}
	ps := make([]*proc, procs)
	var releases []func() error
	for i := range ps {
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), helperEnv+"="+dir, helperEnv+"_ROUNDS="+strconv.Itoa(rounds))
		p.cmd.Stdout, p.cmd.Stderr = &p.out, os.Stderr
		stdin, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, stdin.Close)
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	for _, release := range releases {
		release()
	}
	winners := make([][]int, rounds)
	for i, p := range ps {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		for _, line := range strings.Fields(p.out.String()) {
			r, _ := strconv.Atoi(line)
			winners[r] = append(winners[r], i)
		}
	}
	b := openBucket(t, dir)
	for r, w := range winners {
		if len(w) != 1 {
			t.Errorf("race/%d created by %d processes %v, want exactly 1", r, len(w), w)
			continue
		}
		got, err := b.Read(context.Background(), fmt.Sprintf("race/%d", r))
		if err != nil || string(got) != strconv.Itoa(ps[w[0]].cmd.Process.Pid) {
			t.Errorf("race/%d holds %q (%v), want the winner's pid", r, got, err)
		}
	}
}
