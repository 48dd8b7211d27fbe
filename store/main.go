// Command hush-store runs an embedded FerretDB (SQLite backend) so that Hush can be developed and
// tested against a real MongoDB-wire server on machines without mongod or a container engine.
//
// Usage: hush-store <tcp-address> <sqlite-directory>
//
// It prints "ready <mongodb uri>" once clients can connect. It refuses to start on a folder another
// store is using (exit code 3), and with HUSH_STORE_PARENT=<pid> it stops when that process dies
// (lifetime.go). FerretDB itself listens on a private
// Unix socket behind a proxy (proxy.go) that makes each write command atomic, and every
// collection table gets an index that FerretDB's _id lookups can use (sqliteidx.go).
// With HUSH_STORE_RAW=1 it runs plain FerretDB on the address instead, without either (for
// benchmarks that compare the two).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// gcPercent is the store's GOGC unless the environment sets one.
const gcPercent = 400

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: hush-store <tcp-address> <sqlite-directory>")
		os.Exit(2)
	}
	// The store's live heap is a few MiB and one find of a page of messages allocates about as much,
	// so at Go's default (GOGC=100) it collects at almost every query. 400 halves a page's find for
	// about 10 MiB more memory (docs/stores.md, "Reading documents"). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(os.Args[1], os.Args[2], os.Getenv("HUSH_STORE_RAW") == "1"); err != nil {
		fmt.Fprintln(os.Stderr, "hush-store:", err)
		if errors.Is(err, errFolderInUse) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func run(addr, dir string, raw bool) error {
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o700)
	}
	if err != nil {
		return err
	}
	lock, err := lockFolder(abs)
	if err != nil {
		return err
	}
	defer lock.Close()

	level := slog.LevelError
	if os.Getenv("HUSH_STORE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var ln net.Listener
	var index *idIndexer
	listener := ferretdb.ListenerConfig{TCP: addr}
	if !raw {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		index = newIDIndexer(abs, logger)
		if err = index.indexAll(); err != nil {
			return err
		}
		// FerretDB itself listens on a Unix socket only the proxy dials: a hop through it costs
		// less than one through loopback TCP, and no other user's process can reach FerretDB ungated
		// (the folder is 0700).
		sockDir, err := os.MkdirTemp("", "hush-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(sockDir)
		listener = ferretdb.ListenerConfig{Unix: filepath.Join(sockDir, "ferretdb.sock")}
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: listener,
		Logger:   logger,
		Handler:  "sqlite",
		// WAL with synchronous=NORMAL: a commit survives the store's or the app's crash and any
		// restart, and is forced to disk at checkpoints rather than on every write (FULL, SQLite's
		// default, fsynced every commit: 1-3 ms a write). A power loss may undo the last commits,
		// as MongoDB's default write concern allows between its journal flushes (docs/stores.md).
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if p := os.Getenv("HUSH_STORE_PARENT"); p != "" {
		parent, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("HUSH_STORE_PARENT: %w", err)
		}
		tieToParent(parent, stop)
	}
	// A shutdown that hangs (a client holding a connection open) must not keep the folder locked.
	go func() {
		<-ctx.Done()
		time.Sleep(5 * time.Second)
		fmt.Fprintln(os.Stderr, "hush-store: shutdown took over 5 s; exiting")
		os.Exit(1)
	}()

	done := make(chan struct{})
	go func() {
		_ = f.Run(ctx)
		close(done)
	}()

	uri := f.MongoDBURI() // waits until FerretDB listens
	if !raw {
		holdMax := defaultHoldMax
		if v := os.Getenv("HUSH_STORE_GATE_HOLD_MS"); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				return fmt.Errorf("HUSH_STORE_GATE_HOLD_MS: want a positive number of milliseconds, got %q", v)
			}
			holdMax = time.Duration(ms) * time.Millisecond
		}
		p := newProxy("unix", listener.Unix, index, logger, holdMax)
		go func() { _ = p.serve(ln) }()
		uri = "mongodb://" + ln.Addr().String() + "/"
	}
	// The parent waits for this line before connecting.
	fmt.Println("ready", uri)
	<-done
	if ln != nil {
		_ = ln.Close()
	}
	return nil
}
