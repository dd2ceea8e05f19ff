package blobstatetest

import "syscall"

// sysProcAttr makes Azurite die with the process that started it, so that a
// crashed test leaves no emulator behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
