// Package fastjson is what FerretDB's sjson package (the SQLite backend's document encoding) uses
// in place of encoding/json in the local store: the same calls, answered by github.com/goccy/go-json,
// which decodes several times faster. The store's build rewrites sjson's import
// (store/_ferretdb_patch/sjson.patch); docs/stores.md, "Reading documents", says what it keeps.
//
// sjson decodes each value with a Decoder over a bytes.Reader holding exactly that value, then
// checks that nothing is left (checkConsumed). Decoder keeps that contract: Decode reads the whole
// reader and decodes it as one value, so an input with anything after the value is an error, as
// before, and Buffered is then empty.
package fastjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	gojson "github.com/goccy/go-json"
)

type (
	// RawMessage is encoding/json's.
	RawMessage = json.RawMessage
	// Marshaler is encoding/json's.
	Marshaler = json.Marshaler
	// Unmarshaler is encoding/json's.
	Unmarshaler = json.Unmarshaler
)

// Marshal is encoding/json's: writes keep the standard library's encoding.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with go-json.
func Unmarshal(data []byte, v any) error { return gojson.Unmarshal(data, v) }

// Decoder decodes the whole of its reader as one value.
type Decoder struct {
	r        io.Reader
	disallow bool
}

// NewDecoder returns a decoder of everything r holds.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// DisallowUnknownFields makes a field the target struct does not have an error, as in encoding/json.
func (d *Decoder) DisallowUnknownFields() { d.disallow = true }

// Decode reads the rest of the reader and decodes it into v.
func (d *Decoder) Decode(v any) error {
	data, err := readAll(d.r)
	if err != nil {
		return err
	}
	if d.disallow && !scalar(v) {
		dec := gojson.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return err
		}
		// Nothing may follow the value. (go-json's InputOffset is not that check: it comes out
		// short by a byte per escaped character in the value's strings.)
		var after gojson.RawMessage
		if err := dec.Decode(&after); err != io.EOF {
			return fmt.Errorf("fastjson: something after the value")
		}
		return nil
	}
	return gojson.Unmarshal(data, v)
}

// scalar says whether v points to a string, number or bool: a value with no fields, so refusing
// unknown fields changes nothing and the Decoder's stream (a buffer per call) is not needed. sjson
// decodes most values (object IDs, dates, numbers) into these.
func scalar(v any) bool {
	switch v.(type) {
	case *string, *bool, *float64, *int32, *int64, *uint64:
		return true
	}
	return false
}

// readAll is io.ReadAll, with one allocation of the right size for the bytes.Reader sjson passes.
func readAll(r io.Reader) ([]byte, error) {
	if br, ok := r.(*bytes.Reader); ok {
		data := make([]byte, br.Len())
		_, err := io.ReadFull(br, data)
		return data, err
	}
	return io.ReadAll(r)
}

// Buffered is empty: Decode consumed the reader.
func (d *Decoder) Buffered() io.Reader { return bytes.NewReader(nil) }
