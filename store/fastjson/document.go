package fastjson

import (
	"sync"

	vfj "github.com/valyala/fastjson"
)

type (
	// Value is a parsed JSON value (github.com/valyala/fastjson's), valid only inside ReadDocument's use.
	Value = vfj.Value
	// Object is a parsed JSON object, its members in the order the text has them.
	Object = vfj.Object
)

// The types a Value may have.
const (
	TypeNull   = vfj.TypeNull
	TypeObject = vfj.TypeObject
	TypeArray  = vfj.TypeArray
	TypeString = vfj.TypeString
	TypeNumber = vfj.TypeNumber
	TypeTrue   = vfj.TypeTrue
	TypeFalse  = vfj.TypeFalse
)

// schemaFirst is how sjson.Marshal begins every document: its schema comes before its fields.
const schemaFirst = `{"$s":`

// reader is a parser and the buffer its input is built in, reused across documents.
type reader struct {
	p   vfj.Parser
	buf []byte
}

var readers = sync.Pool{New: func() any { return new(reader) }}

// ReadDocument reads a stored document, `{"$s":<schema>,<fields>}` as sjson.Marshal writes it, in
// one pass: it hands use the schema's JSON text (to look up, not to keep) and the fields, parsed,
// in their order. The fields are parsed once, without the schema; nothing use is handed outlives
// the call. ok is false, and use is not called, when data is not of that form or does not parse:
// the caller then decodes it as before, which gives its own errors. err is use's. It reads what
// sjson.Marshal writes (encoding/json's output) and checks no more than it must for that: a raw
// control character inside a string, which encoding/json refuses and never writes, is read as is.
func ReadDocument(data []byte, use func(schema []byte, fields *Object) error) (ok bool, err error) {
	schema, rest, split := splitSchema(data)
	if !split {
		return false, nil
	}
	r := readers.Get().(*reader)
	defer readers.Put(r)
	// The fields as an object of their own: `{` in place of the comma that followed the schema.
	switch {
	case rest[0] == ',':
		r.buf = append(append(r.buf[:0], '{'), rest[1:]...)
	case len(rest) == 1:
		r.buf = append(r.buf[:0], "{}"...)
	default:
		return false, nil
	}
	v, perr := r.p.ParseBytes(r.buf)
	if perr != nil || v.Type() != TypeObject {
		return false, nil
	}
	fields, _ := v.Object()
	return true, use(schema, fields)
}

// splitSchema cuts data after its schema: the schema's text, and what follows it, which starts
// with the comma before the first field or with the document's closing brace. ok is false when
// data does not start with a schema, or the schema object does not end.
func splitSchema(data []byte) (schema, rest []byte, ok bool) {
	if len(data) <= len(schemaFirst) || string(data[:len(schemaFirst)]) != schemaFirst {
		return nil, nil, false
	}
	start := len(schemaFirst)
	if data[start] != '{' {
		return nil, nil, false
	}
	depth := 0
	for i := start; i < len(data); i++ {
		switch data[i] {
		case '"':
			// A string: skip to its closing quote, past escaped characters.
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				end := i + 1
				if end >= len(data) || (data[end] != ',' && data[end] != '}') {
					return nil, nil, false
				}
				return data[start:end], data[end:], true
			}
		}
	}
	return nil, nil, false
}
