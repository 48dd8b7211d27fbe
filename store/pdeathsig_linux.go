package main

import "syscall"

// setParentDeathSignal asks Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG). Linux
// sends it when the thread that spawned the store ends, which for Node is its main thread, so in
// practice when the process does.
func setParentDeathSignal() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
