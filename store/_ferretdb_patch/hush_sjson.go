package sjson

import (
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/FerretDB/FerretDB/internal/types"

	"hush/store/fastjson"
)

// errLongWay says a document holds something hushUnmarshal does not read itself: Unmarshal then
// reads it as FerretDB does, with the same result or error.
var errLongWay = errors.New("sjson: read the long way")

// hushUnmarshal is Unmarshal in one pass over the document (docs/stores.md, "Reading documents"):
// the fields are parsed once, in order, and each value is read straight from its parsed JSON by
// its schema, where Unmarshal decoded the document into a map of raw values and then each value
// again with a decoder of its own. It reads the types Hush stores (objects, arrays, strings,
// object IDs, dates, numbers, booleans, nulls); ok is false for anything else (binary data,
// regular expressions, timestamps, a document not as Marshal writes it), and Unmarshal reads it.
func hushUnmarshal(data []byte) (doc *types.Document, ok bool) {
	ok, err := fastjson.ReadDocument(data, func(jsch []byte, fields *fastjson.Object) error {
		sch, err := hushSchema(jsch)
		if err != nil || fields.Len() != len(sch.Keys) {
			return errLongWay
		}
		doc, err = hushDocument(fields, sch)
		return err
	})
	return doc, ok && err == nil
}

// hushDocument reads an object's fields, which must be the schema's keys in the schema's order. An
// object with no fields is an empty document, as documentType reads one, whatever the schema.
func hushDocument(o *fastjson.Object, sch *schema) (*types.Document, error) {
	if o.Len() == 0 {
		return new(types.Document), nil
	}
	if sch == nil || o.Len() != len(sch.Keys) {
		return nil, errLongWay
	}
	d := types.MakeDocument(len(sch.Keys))
	i := 0
	var err error
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		key := sch.Keys[i]
		i++
		if string(k) != key {
			err = errLongWay
			return
		}
		var val any
		if val, err = hushValue(v, sch.Properties[key]); err == nil {
			d.Set(key, val)
		}
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// hushValue reads one value as unmarshalSingleValue does: null whatever the schema says, else by
// the schema's type.
func hushValue(v *fastjson.Value, el *elem) (any, error) {
	if v.Type() == fastjson.TypeNull {
		return types.Null, nil
	}
	if el == nil {
		return nil, errLongWay
	}
	switch el.Type {
	case elemTypeObject:
		o, err := v.Object()
		if err != nil {
			return nil, errLongWay
		}
		return hushDocument(o, el.Schema)
	case elemTypeArray:
		items, err := v.Array()
		if err != nil || len(items) != len(el.Items) {
			return nil, errLongWay
		}
		a := types.MakeArray(len(items))
		for j, item := range items {
			val, err := hushValue(item, el.Items[j])
			if err != nil {
				return nil, err
			}
			a.Append(val)
		}
		return a, nil
	case elemTypeString:
		s, err := v.StringBytes()
		if err != nil {
			return nil, errLongWay
		}
		return string(s), nil
	case elemTypeObjectID:
		s, err := v.StringBytes()
		var id types.ObjectID
		if err != nil || hex.DecodedLen(len(s)) != len(id) {
			return nil, errLongWay
		}
		if _, err := hex.Decode(id[:], s); err != nil {
			return nil, errLongWay
		}
		return id, nil
	case elemTypeBool:
		switch v.Type() {
		case fastjson.TypeTrue:
			return true, nil
		case fastjson.TypeFalse:
			return false, nil
		}
		return nil, errLongWay
	case elemTypeDate:
		ms, err := number(v, strconv.ParseInt, 64)
		if err != nil {
			return nil, errLongWay
		}
		return time.UnixMilli(ms), nil
	case elemTypeInt:
		n, err := number(v, strconv.ParseInt, 32)
		if err != nil {
			return nil, errLongWay
		}
		return int32(n), nil
	case elemTypeLong:
		n, err := number(v, strconv.ParseInt, 64)
		if err != nil {
			return nil, errLongWay
		}
		return n, nil
	case elemTypeDouble:
		var buf [32]byte
		text, ok := jsonNumber(v, buf[:0])
		f, err := strconv.ParseFloat(text, 64)
		if !ok || err != nil {
			return nil, errLongWay
		}
		return f, nil
	}
	return nil, errLongWay
}

// number reads a JSON number as an integer of `bits` bits, strictly: no fraction or exponent, as
// encoding/json reads one into an int32 or int64.
func number(v *fastjson.Value, parse func(string, int, int) (int64, error), bits int) (int64, error) {
	var buf [32]byte
	text, ok := jsonNumber(v, buf[:0])
	if !ok {
		return 0, errLongWay
	}
	return parse(text, 10, bits)
}

// jsonNumber is v's text when v is a number as JSON writes one: it starts with a minus or a digit
// and ends with a digit (strconv would also take "+1", "Inf" and "NaN", which the parser lets
// through as numbers and encoding/json refuses).
func jsonNumber(v *fastjson.Value, buf []byte) (string, bool) {
	if v.Type() != fastjson.TypeNumber {
		return "", false
	}
	text := v.MarshalTo(buf)
	first, last := text[0], text[len(text)-1]
	return string(text), (first == '-' || first >= '0' && first <= '9') && last >= '0' && last <= '9'
}
