package main

import "syscall"

// setParentDeathSignal asks Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG).
func setParentDeathSignal() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
