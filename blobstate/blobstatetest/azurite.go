package blobstatetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Azurite is a running azurite-blob process.
type Azurite struct {
	// Endpoint is its blob endpoint, http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// Port is the port it listens on; a restart keeps it.
	Port int

	cfg    Config
	tmpDir bool // Start made cfg.Dir; Close removes it
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	log    *tail
}

// Config configures Start.
type Config struct {
	// Bin is the azurite-blob executable; "" means FindBin.
	Bin string
	// Dir is where Azurite keeps its data (--location); "" means a new
	// temporary directory, which Close removes.
	Dir string
	// Port to listen on, on 127.0.0.1; 0 means a free one.
	Port int
}

var listening = regexp.MustCompile(`successfully listens on https?://[^:\s]+:(\d+)`)

// Start starts azurite-blob and waits until it listens.
func Start(ctx context.Context, cfg Config) (*Azurite, error) {
	if cfg.Bin == "" {
		bin, err := FindBin()
		if err != nil {
			return nil, err
		}
		cfg.Bin = bin
	}
	a := &Azurite{cfg: cfg}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "azurite-")
		if err != nil {
			return nil, err
		}
		a.cfg.Dir, a.tmpDir = dir, true
	}
	if err := a.start(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close stops Azurite and removes the data directory that Start made.
func (a *Azurite) Close() error {
	err := a.Stop()
	if a.tmpDir {
		if rerr := os.RemoveAll(a.cfg.Dir); err == nil {
			err = rerr
		}
	}
	return err
}

func (a *Azurite) start(ctx context.Context) error {
	cmd := exec.Command(a.cfg.Bin, "--silent", "--location", a.cfg.Dir,
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(a.cfg.Port),
		"--skipApiVersionCheck", "--loose", "--disableTelemetry")
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	a.log = &tail{}
	cmd.Stderr = a.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", a.cfg.Bin, err)
	}
	a.cmd, a.done = cmd, make(chan struct{})
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(a.log, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				p, _ := strconv.Atoi(m[1])
				select {
				case port <- p:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(a.done)
	}()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case p := <-port:
		a.Port = p
		a.cfg.Port = p
		a.Endpoint = fmt.Sprintf("http://127.0.0.1:%d/%s", p, Account)
		return nil
	case <-a.done:
		return fmt.Errorf("azurite-blob exited before listening: %s", a.log)
	case <-ctx.Done():
		a.kill()
		return ctx.Err()
	case <-t.C:
		a.kill()
		return fmt.Errorf("azurite-blob did not listen within a minute: %s", a.log)
	}
}

// Stop stops Azurite with SIGTERM (it saves its data and exits), or SIGKILL
// if it has not exited 10 s later.
func (a *Azurite) Stop() error {
	if a.cmd == nil {
		return nil
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
		a.kill()
	}
	a.cmd = nil
	return nil
}

func (a *Azurite) kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// Restart starts Azurite again after Stop, on the same port with the same
// data.
func (a *Azurite) Restart(ctx context.Context) error {
	if a.cmd != nil {
		return errors.New("azurite is running")
	}
	return a.start(ctx)
}

// Dir returns Azurite's data directory.
func (a *Azurite) Dir() string { return a.cfg.Dir }

// StartTest starts an Azurite of t's own in a temporary directory and stops
// it when t ends. It skips t when make test's Azurite is not configured
// (the signal that Azurite is installed) or azurite-blob cannot be found,
// and fails it if azurite-blob does not start.
func StartTest(t testing.TB) *Azurite {
	t.Helper()
	Endpoint(t)
	bin, err := FindBin()
	if err != nil {
		t.Skipf("needs its own Azurite: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := Start(ctx, Config{Bin: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	return a
}

// FindBin returns $SLUICE_AZURITE_BIN, or node_modules/.bin/azurite-blob
// in the working directory or the nearest parent that has one.
func FindBin() (string, error) {
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("azurite-blob not found in node_modules/.bin here or above (run `npm ci` at the module root, or set %s)", EnvBin)
		}
		dir = parent
	}
}

// tail keeps the last few KiB of a process's output, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
