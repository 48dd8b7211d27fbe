package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// insertMsg is an OP_MSG `insert` into d.c with the given request id.
func insertMsg(id int32) []byte {
	body := bsoncore.NewDocumentBuilder().AppendString("insert", "c").AppendString("$db", "d").Build()
	msg := make([]byte, headerLen+4+1, headerLen+4+1+len(body))
	binary.LittleEndian.PutUint32(msg[4:], uint32(id))
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	msg = append(msg, body...)
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

// A gated write whose reply never comes must not hold the gate forever: past the bound the proxy
// cuts that client's connection and the next write to the database goes through.
func TestGateIsNotHeldForever(t *testing.T) {
	// A backend that reads every request and answers none (a FerretDB stuck on a write).
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	received := make(chan int32, 4)
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(c)
				for {
					_, h, err := readMessage(r, nil)
					if err != nil {
						return
					}
					received <- h.requestID
				}
			}()
		}
	}()

	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	p := newProxy("tcp", backend.Addr().String(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)), 200*time.Millisecond)
	go func() { _ = p.serve(front) }()

	dial := func() net.Conn {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first, second := dial(), dial()
	defer first.Close()
	defer second.Close()
	if _, err := first.Write(insertMsg(1)); err != nil {
		t.Fatal(err)
	}
	if got := <-received; got != 1 {
		t.Fatalf("backend got request %d, want 1", got)
	}
	if _, err := second.Write(insertMsg(2)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-received:
		if got != 2 {
			t.Fatalf("backend got request %d, want 2", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second write is still waiting behind the gate 5 s after the bound")
	}
	// The stuck client's connection was cut: it reads EOF rather than waiting forever.
	_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := first.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("first client: want EOF, got %v", err)
	}
}
