// Command hush-store runs an embedded FerretDB (SQLite backend) so that Hush can be developed and
// tested against a real MongoDB-wire server on machines without mongod or a container engine.
//
// Usage: hush-store <tcp-address> <sqlite-directory>
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: hush-store <tcp-address> <sqlite-directory>")
		os.Exit(2)
	}
	addr, dir := os.Args[1], os.Args[2]
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o700)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hush-store:", err)
		os.Exit(1)
	}

	level := slog.LevelError
	if os.Getenv("HUSH_STORE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hush-store:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		_ = f.Run(ctx)
		close(done)
	}()
	// The parent waits for this line before connecting.
	fmt.Println("ready", f.MongoDBURI())
	<-done
}
