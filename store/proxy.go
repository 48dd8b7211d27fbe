package main

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// FerretDB v1 applies a write by reading documents and writing them back in separate steps, so
// concurrent writes to one document lose updates. The proxy in front of it serialises every
// command that changes data or the catalogue, per database, from the moment it is forwarded until
// FerretDB's reply comes back. Per database because SQLite (one file per database) lets one writer
// at a time in anyway. Reads are not gated: FerretDB writes each document with one SQL statement,
// so a read sees it before or after a change, never half way.
type effect int

const (
	mutates         effect = iota + 1
	mayCreate              // can create a collection: its table gets the _id index afterwards
	mayDropOrRename        // table names cached for the database are forgotten afterwards
	mayIndex               // can create a collection or declare indexes: its tables are indexed again
)

// The write commands FerretDB v1.24 implements (internal/handler/commands.go). Its aggregation
// has no $out or $merge, explain covers reads only, and the user commands exist only with its
// "new auth", which the store does not enable. getMore, including a tailable awaitData one that
// waits for seconds, is a read and never holds the gate.
var effects = map[string]effect{
	"insert":           mayCreate,
	"update":           mayCreate,
	"findAndModify":    mayCreate,
	"findandmodify":    mayCreate,
	"create":           mayCreate,
	"createIndexes":    mayIndex,
	"delete":           mutates,
	"dropIndexes":      mutates,
	"compact":          mutates,
	"drop":             mayDropOrRename,
	"dropDatabase":     mayDropOrRename,
	"renameCollection": mayDropOrRename,
}

type gate struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// lock blocks until the database's write lock is free and returns it, held.
func (g *gate) lock(db string) *sync.Mutex {
	g.mu.Lock()
	l := g.locks[db]
	if l == nil {
		l = new(sync.Mutex)
		g.locks[db] = l
	}
	g.mu.Unlock()
	l.Lock()
	return l
}

// defaultHoldMax bounds how long one gated command may hold its database's gate. No write Hush
// sends takes more than a fraction of it, and its driver gives up on an answer after
// STORE_TIMEOUT_MS (10 s by default); a command still unanswered by then is stuck (FerretDB waiting
// for a SQLite connection that never frees, say), and while it holds the gate every other write to
// the database waits behind it: the store would be locked up for good. Past the bound the proxy
// closes that command's connection to FerretDB, which cancels the command there, and releases the
// gate; the client sees a network error, which Hush answers as 503 STORE_UNAVAILABLE.
const defaultHoldMax = 30 * time.Second

type proxy struct {
	network string // "unix" (FerretDB's own socket), or "tcp" in tests
	backend string
	gate    gate
	index   *idIndexer
	log     *slog.Logger
	holdMax time.Duration
}

func newProxy(network, backend string, index *idIndexer, log *slog.Logger, holdMax time.Duration) *proxy {
	return &proxy{
		network: network,
		backend: backend,
		gate:    gate{locks: map[string]*sync.Mutex{}},
		index:   index,
		log:     log,
		holdMax: holdMax,
	}
}

func (p *proxy) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go p.handle(c)
	}
}

// inflight is a request whose reply the proxy must act on.
type inflight struct {
	lock    *sync.Mutex // the database's gate, released when the reply arrives
	after   func()      // index upkeep, run before the gate is released
	swallow bool        // sent with moreToCome: the client expects no reply, but FerretDB v1 sends one
	limit   *time.Timer // cuts the connection if the reply takes longer than holdMax
}

// session is one client connection paired with its own connection to FerretDB. FerretDB handles a
// connection's requests one at a time, in order, and answers each (responseTo = its requestID).
type session struct {
	mu      sync.Mutex
	pending map[int32]inflight
}

func (s *session) add(id int32, in inflight) {
	s.mu.Lock()
	s.pending[id] = in
	s.mu.Unlock()
}

func (s *session) take(id int32) (inflight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.pending[id]
	delete(s.pending, id)
	if ok && in.limit != nil {
		in.limit.Stop()
	}
	return in, ok
}

// finish releases the gates of requests that will never be answered (FerretDB closed the connection).
func (s *session) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, in := range s.pending {
		if in.limit != nil {
			in.limit.Stop()
		}
		if in.lock != nil {
			in.lock.Unlock()
		}
		delete(s.pending, id)
	}
}

func (p *proxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial(p.network, p.backend)
	if err != nil {
		p.log.Error("hush-store: cannot reach FerretDB", "err", err)
		return
	}
	defer server.Close()

	s := &session{pending: map[int32]inflight{}}
	done := make(chan struct{})
	go func() {
		p.replies(s, server, client)
		close(done)
	}()
	p.requests(s, client, server)
	// FerretDB answers the requests it has read before it sees the end of the stream, so
	// half-closing keeps each gated command's lock until its reply is in, even if the client left.
	_ = server.(interface{ CloseWrite() error }).CloseWrite()
	<-done
	s.finish()
}

func (p *proxy) requests(s *session, client, server net.Conn) {
	r := bufio.NewReader(client)
	var buf []byte
	for {
		msg, h, err := readMessage(r, buf)
		if err != nil {
			return
		}
		buf = msg
		// Anything else passes through ungated: over OP_QUERY FerretDB v1 runs only the legacy
		// hello/isMaster handshake (and saslStart); it rejects every other opcode, OP_COMPRESSED
		// included (it offers no compressor in hello, so drivers never compress), and any OP_MSG
		// the proxy cannot parse.
		if h.opCode == opMsg {
			if c, err := parseOpMsg(msg); err == nil {
				if in := p.admit(c); in.lock != nil || in.swallow {
					if in.lock != nil {
						in.limit = time.AfterFunc(p.holdMax, func() {
							p.log.Error("hush-store: a write held the gate too long; cutting its connection",
								"command", c.name, "db", c.db, "bound", p.holdMax)
							// replies() then fails to read, and finish() releases the gate.
							_ = server.Close()
						})
					}
					s.add(h.requestID, in)
				}
			}
		}
		if _, err := server.Write(msg); err != nil {
			if in, ok := s.take(h.requestID); ok && in.lock != nil {
				in.lock.Unlock()
			}
			return
		}
	}
}

// admit takes the database's gate for a write command (blocking until it is free).
func (p *proxy) admit(c command) inflight {
	in := inflight{swallow: c.flags&flagMoreToCome != 0}
	e := effects[c.name]
	if e == 0 {
		return in
	}
	db := c.db
	if c.name == "renameCollection" {
		// Sent to admin with "db.collection" namespaces; FerretDB v1 renames within one database only.
		db, _, _ = strings.Cut(c.arg, ".")
	}
	in.lock = p.gate.lock(db)
	if p.index != nil {
		switch e {
		case mayCreate:
			in.after = func() { p.index.ensure(db, c.arg) }
		case mayIndex:
			in.after = func() {
				p.index.forget(db)
				p.index.ensure(db, c.arg)
			}
		case mayDropOrRename:
			in.after = func() { p.index.forget(db) }
		}
	}
	return in
}

func (p *proxy) replies(s *session, server, client net.Conn) {
	// Closing the client side ends requests() if FerretDB went away first.
	defer client.Close()
	r := bufio.NewReader(server)
	var buf []byte
	clientGone := false
	for {
		msg, h, err := readMessage(r, buf)
		if err != nil {
			return
		}
		buf = msg
		if in, ok := s.take(h.responseTo); ok {
			if in.after != nil {
				in.after()
			}
			if in.lock != nil {
				in.lock.Unlock()
			}
			if in.swallow {
				continue
			}
		}
		// After the client has gone, keep reading so that the gates of its last requests are released.
		if !clientGone {
			if _, err := client.Write(msg); err != nil {
				clientGone = true
				_ = client.Close()
			}
		}
	}
}
