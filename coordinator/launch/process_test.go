package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// harness is a Process running the test binary as executor, with its
// stdout lines and exits on channels.
type harness struct {
	t     *testing.T
	p     *Process
	lines chan string
	exits chan Exit
	dir   string

	mu     sync.Mutex
	counts map[int]int // onExit calls per process
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:      t,
		lines:  make(chan string, 100),
		exits:  make(chan Exit, 100),
		dir:    t.TempDir(),
		counts: map[int]int{},
	}
	h.p = NewProcess(ProcessConfig{
		Binary: os.Args[0],
		LogDir: filepath.Join(h.dir, "logs"),
		Stdout: lineWriter(h.lines),
	}, func(e Exit) {
		h.mu.Lock()
		h.counts[e.PID]++
		h.mu.Unlock()
		h.exits <- e
	})
	t.Cleanup(func() {
		if err := h.p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for pid, n := range h.counts {
			if n != 1 {
				t.Errorf("onExit called %d times for pid %d", n, pid)
			}
		}
	})
	return h
}

// launch starts the helper executor in mode with args.
func (h *harness) launch(id string, args ...string) int {
	h.t.Helper()
	pid, err := h.p.Launch(context.Background(), Request{
		ExecutorID: id,
		Args:       args,
		Env:        []string{helperEnv + "=1", "HELPER_GREETING=hello"},
	})
	if err != nil {
		h.t.Fatalf("Launch(%s): %v", id, err)
	}
	return pid
}

// line waits for the next stdout line.
func (h *harness) line() string {
	h.t.Helper()
	select {
	case l := <-h.lines:
		return l
	case <-time.After(30 * time.Second):
		h.t.Fatal("no output from the executor")
	}
	return ""
}

// expectLine waits for the given stdout line.
func (h *harness) expectLine(want string) {
	h.t.Helper()
	if got := h.line(); got != want {
		h.t.Fatalf("stdout line = %q, want %q", got, want)
	}
}

// exit waits for the next onExit call.
func (h *harness) exit() Exit {
	h.t.Helper()
	select {
	case e := <-h.exits:
		return e
	case <-time.After(30 * time.Second):
		h.t.Fatal("onExit not called")
	}
	return Exit{}
}

// lineWriter sends each line written to it to a channel. The Process
// writes whole lines.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" {
			w <- strings.TrimSuffix(l, "\n")
		}
	}
	return len(p), nil
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

// gone checks that our child pid has been reaped.
func gone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d: kill(0) = %v, want ESRCH", pid, err)
	}
}

// eventuallyDead waits until pid, which is not our child (so the test
// cannot wait for it), has died. It polls /proc: there is nothing to block
// on.
func eventuallyDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		<-tick.C
	}
}

func TestExitCodes(t *testing.T) {
	h := newHarness(t)
	pid := h.launch("ok", "exit", "0")
	e := h.exit()
	if e.ExecutorID != "ok" || e.PID != pid || e.Err != nil || e.ExitCode != 0 || e.Stopped {
		t.Errorf("exit = %+v", e)
	}
	gone(t, pid)

	pid = h.launch("bad", "exit", "3", "something broke")
	e = h.exit()
	if e.ExitCode != 3 || e.Err == nil || !strings.Contains(e.Err.Error(), "exited with code 3") || e.Stopped {
		t.Errorf("exit = %+v", e)
	}
	if e.LogTail != "something broke\n" {
		t.Errorf("log tail = %q", e.LogTail)
	}
	gone(t, pid)
	if r := h.p.Running(); len(r) != 0 {
		t.Errorf("Running() = %v after exits", r)
	}
}

func TestArgsEnvStdoutAndLog(t *testing.T) {
	h := newHarness(t)
	h.launch("echo-1", "echo", "a", "b c")
	h.expectLine("a b c")
	h.expectLine("hello")
	if e := h.exit(); e.Err != nil {
		t.Fatalf("exit = %+v", e)
	}
	log, err := os.ReadFile(filepath.Join(h.dir, "logs", "echo-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(log) != "to the log\n" {
		t.Errorf("log = %q", log)
	}
}

func TestKill(t *testing.T) {
	h := newHarness(t)
	pid := h.launch("sleeper", "sleep")
	h.expectLine("ready")
	if got := h.p.Running(); len(got) != 1 || got[0] != "sleeper" {
		t.Errorf("Running() = %v", got)
	}
	if err := h.p.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Kill("sleeper"); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	e := h.exit()
	if e.Err == nil || !strings.Contains(e.Err.Error(), "killed by signal 9") || e.ExitCode != -1 || !e.Stopped {
		t.Errorf("exit = %+v", e)
	}
	gone(t, pid)
	if err := h.p.Kill("sleeper"); err != nil {
		t.Errorf("Kill after exit: %v", err)
	}
	if err := h.p.Kill("never-launched"); err != nil {
		t.Errorf("Kill(unknown): %v", err)
	}
	// the id can be used again
	h.launch("sleeper", "exit", "0")
	if e := h.exit(); e.Err != nil {
		t.Errorf("relaunch exit = %+v", e)
	}
}

func TestStopGraceful(t *testing.T) {
	h := newHarness(t)
	pid := h.launch("graceful", "term-exit")
	h.expectLine("ready")
	if err := h.p.Stop(context.Background(), "graceful"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stop returns once the process is reaped
	gone(t, pid)
	e := h.exit()
	if e.Err != nil || !e.Stopped || e.LogTail != "stopping\n" {
		t.Errorf("exit = %+v", e)
	}
	if err := h.p.Stop(context.Background(), "graceful"); err != nil {
		t.Errorf("Stop after exit: %v", err)
	}
}

func TestStopEscalates(t *testing.T) {
	h := newHarness(t)
	pid := h.launch("stubborn", "ignore-term")
	h.expectLine("ready")
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- h.p.Stop(ctx, "stubborn") }()
	h.expectLine("term") // SIGTERM arrived and was ignored
	cancel()
	err := <-stopped
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stop error = %v, want context.Canceled", err)
	}
	gone(t, pid)
	e := h.exit()
	if e.Err == nil || !strings.Contains(e.Err.Error(), "killed by signal 9") || !e.Stopped {
		t.Errorf("exit = %+v", e)
	}
}

func TestCloseKillsAll(t *testing.T) {
	h := newHarness(t)
	var pids []int
	for i := range 3 {
		pids = append(pids, h.launch(fmt.Sprintf("e%d", i), "sleep"))
	}
	for range 3 {
		h.expectLine("ready")
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for every onExit
	if len(h.exits) != 3 {
		t.Fatalf("%d exits reported by the time Close returned, want 3", len(h.exits))
	}
	for range 3 {
		if e := h.exit(); !e.Stopped || e.Err == nil {
			t.Errorf("exit = %+v", e)
		}
	}
	for _, pid := range pids {
		gone(t, pid)
	}
	if _, err := h.p.Launch(context.Background(), Request{ExecutorID: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Launch after Close: %v, want ErrClosed", err)
	}
	if err := h.p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLeftoverChildrenAreKilled(t *testing.T) {
	h := newHarness(t)
	h.launch("spawner", "spawn")
	var child int
	if _, err := fmt.Sscanf(h.line(), "child %d", &child); err != nil {
		t.Fatal(err)
	}
	// the executor exits 0 at once; its child, which holds the stdout pipe,
	// is killed with the process group, so the exit gets reported
	if e := h.exit(); e.Err != nil {
		t.Errorf("exit = %+v", e)
	}
	eventuallyDead(t, child)
}

func TestExecutorsDieWithTheLauncher(t *testing.T) {
	launcher := exec.Command(os.Args[0], "launcher")
	launcher.Env = append(os.Environ(), helperEnv+"=1")
	out, err := launcher.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	defer launcher.Wait()
	defer launcher.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var executor int
	if _, err := fmt.Sscanf(line, "executor %d", &executor); err != nil {
		t.Fatal(err)
	}
	if !alive(executor) {
		t.Fatal("executor not running")
	}
	if err := launcher.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	eventuallyDead(t, executor)
}

func TestLogTail(t *testing.T) {
	h := newHarness(t)
	h.launch("spewer", "spew", "1000")
	e := h.exit()
	if len(e.LogTail) > logTailSize || len(e.LogTail) < logTailSize-100 {
		t.Errorf("log tail has %d bytes", len(e.LogTail))
	}
	if !strings.HasPrefix(e.LogTail, "log line ") || !strings.HasSuffix(e.LogTail, "log line 999\n") {
		t.Errorf("log tail = %q...%q", e.LogTail[:20], e.LogTail[len(e.LogTail)-20:])
	}
	log, err := os.ReadFile(filepath.Join(h.dir, "logs", "spewer.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(log, []byte("\n")); n != 1000 {
		t.Errorf("log has %d lines, want 1000", n)
	}
}

func TestLaunchErrors(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"", ".hidden", "a/b", "../x", "a b"} {
		if _, err := h.p.Launch(context.Background(), Request{ExecutorID: id}); err == nil {
			t.Errorf("Launch(%q) succeeded", id)
		}
	}
	h.launch("dup", "sleep")
	h.expectLine("ready")
	if _, err := h.p.Launch(context.Background(), Request{ExecutorID: "dup"}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("Launch(dup) error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.p.Launch(ctx, Request{ExecutorID: "cancelled"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch(cancelled ctx) error = %v", err)
	}
	bad := NewProcess(ProcessConfig{Binary: filepath.Join(t.TempDir(), "missing")}, nil)
	if _, err := bad.Launch(context.Background(), Request{ExecutorID: "x"}); err == nil {
		t.Error("Launch of a missing binary succeeded")
	}
	if err := bad.Close(); err != nil {
		t.Error(err)
	}
	if got := h.p.Running(); len(got) != 1 || got[0] != "dup" {
		t.Errorf("Running() = %v", got)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(10)
	tb.Write([]byte("abc\n"))
	if got := tb.String(); got != "abc\n" {
		t.Errorf("tail = %q", got)
	}
	tb.Write([]byte("defg\nhij\n"))
	if got := tb.String(); got != "defg\nhij\n" { // "c" dropped with its cut line
		t.Errorf("tail = %q", got)
	}
	tb.Write([]byte(strings.Repeat("x", 25)))
	if got := tb.String(); got != strings.Repeat("x", 10) {
		t.Errorf("tail = %q", got)
	}
}
