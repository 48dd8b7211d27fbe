package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// MongoDB wire protocol: every message starts with a 16-byte header of four little-endian int32s.
const (
	headerLen = 16
	// MongoDB's maxMessageSizeBytes is 48,000,000; leave FerretDB to reject anything between.
	maxMessageLen = 64 << 20

	opMsg = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
)

type header struct {
	requestID, responseTo, opCode int32
}

// readMessage reads one whole message into buf (grown as needed) and returns it with its header.
func readMessage(r io.Reader, buf []byte) ([]byte, header, error) {
	var h header
	if cap(buf) < headerLen {
		buf = make([]byte, headerLen, 4096)
	}
	buf = buf[:headerLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, h, err
	}
	n := int(int32(binary.LittleEndian.Uint32(buf)))
	if n < headerLen || n > maxMessageLen {
		return buf, h, fmt.Errorf("bad message length %d", n)
	}
	if cap(buf) < n {
		grown := make([]byte, n)
		copy(grown, buf)
		buf = grown
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf[headerLen:]); err != nil {
		return buf, h, err
	}
	h.requestID = int32(binary.LittleEndian.Uint32(buf[4:]))
	h.responseTo = int32(binary.LittleEndian.Uint32(buf[8:]))
	h.opCode = int32(binary.LittleEndian.Uint32(buf[12:]))
	return buf, h, nil
}

// command is what the gate needs to know about an OP_MSG request.
type command struct {
	flags uint32
	name  string // first key of the body document, e.g. "insert"
	arg   string // its value when it is a string: a collection name, or a namespace for renameCollection
	db    string // the "$db" field
}

// parseOpMsg reads the flags and the section-0 body of an OP_MSG (msg includes the header).
func parseOpMsg(msg []byte) (command, error) {
	var c command
	if len(msg) < headerLen+5 {
		return c, errors.New("short OP_MSG")
	}
	c.flags = binary.LittleEndian.Uint32(msg[headerLen:])
	end := len(msg)
	if c.flags&flagChecksumPresent != 0 {
		end -= 4
	}
	// Drivers put the body (kind 0) first, but the spec allows document sequences (kind 1) before it.
	for off := headerLen + 4; off+5 <= end; {
		kind := msg[off]
		size := int(int32(binary.LittleEndian.Uint32(msg[off+1:])))
		if size < 5 || off+1+size > end {
			return c, errors.New("bad OP_MSG section size")
		}
		switch kind {
		case 0:
			return c, c.readBody(bsoncore.Document(msg[off+1 : off+1+size]))
		case 1:
			off += 1 + size
		default:
			return c, fmt.Errorf("unknown OP_MSG section kind %d", kind)
		}
	}
	return c, errors.New("OP_MSG without a body")
}

func (c *command) readBody(doc bsoncore.Document) error {
	first, err := doc.IndexErr(0)
	if err != nil {
		return err
	}
	c.name = first.Key()
	c.arg, _ = first.Value().StringValueOK()
	db, err := doc.LookupErr("$db")
	if err != nil {
		return err
	}
	var ok bool
	if c.db, ok = db.StringValueOK(); !ok {
		return errors.New("$db is not a string")
	}
	return nil
}
