// Package localcluster builds the sluice binary and runs `sluice local` for
// the benchmark harnesses, which measure the real thing through its API.
package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// Cluster is a running `sluice local`.
type Cluster struct {
	Bin     string
	DataDir string
	URL     string
	Client  *api.Client
	cmd     *exec.Cmd
}

// Build compiles ./cmd/sluice into dir.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build sluice: %w", err)
	}
	return bin, nil
}

// Start runs `sluice local` with its data in dataDir; env is added to the
// environment (SLUICE_CPUPROFILE_DIR=..., say).
func Start(bin, dataDir string, env ...string) (*Cluster, error) {
	cmd := exec.Command(bin, "local", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, DataDir: dataDir, cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "API on "); i >= 0 {
			c.URL = strings.TrimSuffix(strings.Fields(line[i+len("API on "):])[0], ",")
			c.Client = api.NewClient(c.URL, "")
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return c, nil
		}
	}
	c.Stop()
	return nil, errors.New("sluice local did not print its API address")
}

// CPU is the CPU time that `sluice local` and its reaped children (the
// executor processes that have exited) have used so far, from
// /proc/<pid>/stat (Linux; clock ticks of 1/100 s, the kernel's USER_HZ).
// The difference over a job that ran alone is what the job cost in CPU,
// whatever else shared the machine.
func (c *Cluster) CPU() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of sluice local: %w", err)
	}
	// fields after the command name, which is in parentheses: state is
	// field 3; utime, stime, cutime, cstime are fields 14-17
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, fmt.Errorf("cpu time of sluice local: short /proc stat %q", s)
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of sluice local: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Stop ends the cluster.
func (c *Cluster) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
}

// Wait polls the job until cond holds for it or the timeout passes.
func (c *Cluster) Wait(id string, timeout time.Duration, cond func(*api.Job) bool) (*api.Job, error) {
	deadline := time.Now().Add(timeout)
	for {
		j, err := c.Client.Job(context.Background(), id)
		if err != nil {
			return nil, err
		}
		if cond(j) {
			return j, nil
		}
		if j.State.Terminal() {
			return j, fmt.Errorf("job %s ended %s: %s", id, j.State, j.Error)
		}
		if time.Now().After(deadline) {
			return j, fmt.Errorf("job %s: timed out", id)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
