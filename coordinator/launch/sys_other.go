//go:build !linux

package launch

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the executor in a process group of its own. There is no
// parent-death signal outside Linux.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitExited is not available: the process group is killed after reaping.
func waitExited(int) error { return errors.ErrUnsupported }
