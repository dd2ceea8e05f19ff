//go:build !linux

package blobstatetest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
