package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Two stores on one data folder would each have their own write gate, so their writes would
// interleave and lose updates (docs/stores.md). The first store holds an exclusive OS lock on a
// file in the folder for its whole life; the kernel releases it when the process ends, however it
// ends, so a store killed with SIGKILL never leaves a stale lock behind.
const lockName = "hush-store.lock"

// errFolderInUse is reported (exit code 3) when another live store holds the folder's lock.
var errFolderInUse = errors.New("data folder in use")

func lockFolder(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			return nil, fmt.Errorf("%w: %s is locked by another hush-store (pid %s); stop it, or use another folder", errFolderInUse, dir, pid)
		}
		return nil, err
	}
	// The holder's pid, for the message above; the lock itself is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// tieToParent makes the store stop when the process that started it dies, however it dies: the
// parent gives the store a pipe on stdin and never writes to it, so the store reads EOF exactly
// when the parent's end closes (a SIGKILL included). Where the OS has one, a parent-death signal
// is a second line (pdeathsig_linux.go). parent is the pid the parent said it has; if it is already
// gone (re-parented before the signal was set up), stop at once.
func tieToParent(parent int, stop func()) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	setParentDeathSignal()
	if os.Getppid() != parent {
		stop()
	}
}
