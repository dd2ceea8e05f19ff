package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
)

// ErrClosed is returned by Launch after Close.
var ErrClosed = errors.New("launcher closed")

// Request asks for one executor process.
type Request struct {
	// ExecutorID names the executor: unique among running executors, and
	// used as its log file's name, so [A-Za-z0-9._-]+ and not starting with
	// a dot.
	ExecutorID string
	// Args are the flags after "executor".
	Args []string
	// Env holds "KEY=value" entries added to (and overriding) the
	// launcher's own environment.
	Env []string
	// Host names the agent to run on, for launchers that span hosts; the
	// local Process launcher ignores it.
	Host string
}

// Exit reports that an executor process has ended.
type Exit struct {
	ExecutorID string
	PID        int
	// Err is nil when the process exited with code 0; otherwise it says
	// which exit code or signal ended it.
	Err error
	// ExitCode is the exit code, or -1 when a signal ended the process.
	ExitCode int
	// Stopped is true when Kill, Stop or Close was called for the process:
	// its end was asked for, not a crash.
	Stopped bool
	// LogTail is the end (up to 4 KiB) of the process's stderr.
	LogTail string
}

// ProcessConfig configures a Process launcher. The zero value works.
type ProcessConfig struct {
	// Binary is the executable to run; default os.Executable().
	Binary string
	// LogDir receives each executor's stderr in <executor id>.log (appended
	// to). It is created if needed. Empty means stderr is only kept for
	// Exit.LogTail.
	LogDir string
	// Stdout receives the executors' stdout, whole lines at a time; it is
	// written from one goroutine at a time. Default os.Stdout.
	Stdout io.Writer
	// Logger logs starts and exits.
	Logger zerolog.Logger
}

// Process launches executors as local OS processes. Its methods are safe
// for concurrent use.
type Process struct {
	cfg    ProcessConfig
	onExit func(Exit)
	stdout *lockedWriter

	mu     sync.Mutex
	procs  map[string]*child
	closed bool
	wg     sync.WaitGroup // one per child, until its onExit returns
}

// child is one running executor.
type child struct {
	id   string
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process is reaped

	// guarded by Process.mu
	exited  bool // the process has exited: its pid must not be signalled
	stopped bool // Kill, Stop or Close asked for its end
}

// NewProcess returns a launcher. onExit, which may be nil, is called exactly
// once for every launched process, after it has ended and been reaped, from
// a goroutine of its own; it may call Launch, Kill, Stop and Running, but
// not Close.
func NewProcess(cfg ProcessConfig, onExit func(Exit)) *Process {
	out := cfg.Stdout
	if out == nil {
		out = os.Stdout
	}
	return &Process{
		cfg:    cfg,
		onExit: onExit,
		stdout: &lockedWriter{w: out},
		procs:  map[string]*child{},
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*$`)

// Launch starts an executor process and returns its pid. ctx only bounds
// the start: the process runs until it exits or is killed.
func (p *Process) Launch(ctx context.Context, r Request) (pid int, err error) {
	if !idPattern.MatchString(r.ExecutorID) {
		return 0, fmt.Errorf("launch executor %q: invalid id: want [A-Za-z0-9._-]+, not starting with '.'", r.ExecutorID)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, err)
	}
	bin := p.cfg.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return 0, fmt.Errorf("launch executor %s: find own binary: %w", r.ExecutorID, err)
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, ErrClosed)
	}
	if _, dup := p.procs[r.ExecutorID]; dup {
		return 0, fmt.Errorf("launch executor %s: already running", r.ExecutorID)
	}
	c, pipes, err := p.start(bin, r)
	if err != nil {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, err)
	}
	p.procs[c.id] = c
	p.wg.Add(1)
	go p.wait(c, pipes)
	p.cfg.Logger.Info().Str("executor", c.id).Int("pid", c.pid).Strs("args", r.Args).Msg("executor started")
	return c.pid, nil
}

// outputs are the parent's ends of a child's stdout and stderr.
type outputs struct {
	stdout, stderr *os.File
	log            *os.File // nil without LogDir
}

func (o outputs) close() {
	o.stdout.Close()
	o.stderr.Close()
	if o.log != nil {
		o.log.Close()
	}
}

// start starts the process for r.
func (p *Process) start(bin string, r Request) (*child, outputs, error) {
	var o outputs
	if p.cfg.LogDir != "" {
		if err := os.MkdirAll(p.cfg.LogDir, 0o755); err != nil {
			return nil, o, fmt.Errorf("create log dir: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(p.cfg.LogDir, r.ExecutorID+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, o, fmt.Errorf("open log: %w", err)
		}
		o.log = f
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		if o.log != nil {
			o.log.Close()
		}
		return nil, o, fmt.Errorf("stdout pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		if o.log != nil {
			o.log.Close()
		}
		return nil, o, fmt.Errorf("stderr pipe: %w", err)
	}
	o.stdout, o.stderr = stdoutR, stderrR

	cmd := exec.Command(bin, append([]string{"executor"}, r.Args...)...)
	cmd.Env = append(os.Environ(), r.Env...)
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	// the child has its own copies of the write ends
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		o.close()
		return nil, o, err
	}
	return &child{id: r.ExecutorID, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}, o, nil
}

// Kill sends SIGKILL to the executor and whatever else runs in its process
// group. It returns nil if the executor is not running (any more).
func (p *Process) Kill(executorID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.procs[executorID]
	if !ok {
		return nil
	}
	return p.signal(c, syscall.SIGKILL)
}

// signal sends sig to c's process group, unless c has exited. p.mu is
// held: while c has not exited its pid cannot have been reused.
func (p *Process) signal(c *child, sig syscall.Signal) error {
	if c.exited {
		return nil
	}
	c.stopped = true
	if err := syscall.Kill(-c.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal executor %s (pid %d): %w", c.id, c.pid, err)
	}
	return nil
}

// Stop asks the executor to stop with SIGTERM (to its process group) and
// waits for it to exit; when ctx ends first, it kills it with SIGKILL,
// waits for that, and returns ctx's error. Either way the process is gone
// when Stop returns. It returns nil at once if the executor is not running.
func (p *Process) Stop(ctx context.Context, executorID string) error {
	p.mu.Lock()
	c, ok := p.procs[executorID]
	var err error
	if ok {
		err = p.signal(c, syscall.SIGTERM)
	}
	p.mu.Unlock()
	if !ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	err = p.signal(c, syscall.SIGKILL)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	<-c.done
	return fmt.Errorf("stop executor %s: %w; killed it", executorID, ctx.Err())
}

// Running lists the ids of the executors that have not been reported to
// onExit yet, sorted.
func (p *Process) Running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.procs))
	for id := range p.procs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Close kills every executor, waits until each has been reaped and
// reported to onExit, and makes Launch fail from then on.
func (p *Process) Close() error {
	p.mu.Lock()
	p.closed = true
	var errs []error
	for _, c := range p.procs {
		if err := p.signal(c, syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close launcher: %w", err)
	}
	return nil
}
