package launch

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// drainTimeout bounds how long, after an executor has been reaped, its
// output pipes are read: a process that escaped its process group could
// hold them open forever.
const drainTimeout = 5 * time.Second

// logTailSize is how much of the end of stderr Exit.LogTail holds.
const logTailSize = 4 << 10

// wait copies c's output until it ends, reaps it, kills what it left in its
// process group, and reports its exit.
func (p *Process) wait(c *child, o outputs) {
	defer p.wg.Done()

	tail := newTailBuffer(logTailSize)
	logw := &bestEffortWriter{w: o.log}
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() {
		defer copiers.Done()
		copyLines(p.stdout, o.stdout)
	}()
	go func() {
		defer copiers.Done()
		copyStderr(o.stderr, logw, tail)
	}()

	// Wait for the exit without reaping, so that the process group still
	// exists (the pid cannot be reused) while it is killed.
	waitedFirst := waitExited(c.pid) == nil
	p.mu.Lock()
	c.exited = true
	p.mu.Unlock()
	if waitedFirst {
		killGroup(c.pid)
	}
	waitErr := c.cmd.Wait()
	if !waitedFirst {
		killGroup(c.pid) // best effort where waitExited is not available
	}

	drained := make(chan struct{})
	go func() {
		copiers.Wait()
		close(drained)
	}()
	timer := time.NewTimer(drainTimeout)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
		p.cfg.Logger.Warn().Str("executor", c.id).Msg("executor output still open after exit; closing it")
		o.stdout.Close() // unblocks the copiers' reads
		o.stderr.Close()
		<-drained
	}
	o.close()
	if logw.err != nil {
		p.cfg.Logger.Warn().Err(logw.err).Str("executor", c.id).Msg("writing executor log failed")
	}

	p.mu.Lock()
	delete(p.procs, c.id)
	stopped := c.stopped
	p.mu.Unlock()
	close(c.done)

	ex := exitOf(c, waitErr)
	ex.Stopped = stopped
	ex.LogTail = tail.String()
	ev := p.cfg.Logger.Info()
	if ex.Err != nil && !stopped {
		ev = p.cfg.Logger.Warn()
	}
	ev.Str("executor", c.id).Int("pid", c.pid).AnErr("exit", ex.Err).Bool("stopped", stopped).Msg("executor exited")
	if p.onExit != nil {
		p.onExit(ex)
	}
}

// exitOf describes how c's process ended.
func exitOf(c *child, waitErr error) Exit {
	ex := Exit{ExecutorID: c.id, PID: c.pid, ExitCode: -1}
	st := c.cmd.ProcessState
	if st == nil {
		ex.Err = fmt.Errorf("executor %s (pid %d): wait: %w", c.id, c.pid, waitErr)
		return ex
	}
	ex.ExitCode = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := ws.Signal()
		ex.Err = fmt.Errorf("executor %s (pid %d) killed by signal %d (%v)", c.id, c.pid, int(sig), sig)
		return ex
	}
	if ex.ExitCode != 0 {
		ex.Err = fmt.Errorf("executor %s (pid %d) exited with code %d", c.id, c.pid, ex.ExitCode)
	}
	return ex
}

// killGroup kills the process group pgid, if anything is left in it.
func killGroup(pgid int) {
	// ESRCH, nothing left, is the usual outcome; there is nothing to do
	// about other errors.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
