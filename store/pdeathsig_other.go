//go:build !linux

package main

// setParentDeathSignal: no parent-death signal outside Linux; the stdin pipe is enough.
func setParentDeathSignal() {}
