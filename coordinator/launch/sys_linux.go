package launch

import (
	"syscall"
	"unsafe"
)

// sysProcAttr puts the executor in a process group of its own (so that it
// and its children can be signalled together) and has the kernel kill it
// when the launcher dies. The parent-death signal fires when the thread
// that started the child exits; the Go runtime does not end threads, except
// for goroutines that exit while locked to theirs, which Launch never runs
// on.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pPID is waitid's P_PID id type.
const pPID = 1

// waitExited blocks until process pid has exited, without reaping it.
func waitExited(pid int) error {
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return errno
		}
	}
}
