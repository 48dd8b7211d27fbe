package fastjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// fieldsOf reads data with ReadDocument and gives back the schema text and every field's key and
// JSON text, in order.
func fieldsOf(t *testing.T, data string) (schema string, fields [][2]string, ok bool) {
	t.Helper()
	ok, err := ReadDocument([]byte(data), func(s []byte, o *Object) error {
		schema = string(s)
		o.Visit(func(k []byte, v *Value) { fields = append(fields, [2]string{string(k), v.String()}) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema, fields, ok
}

// The schema comes out as its text, the fields in their order, however the schema's strings are
// made (braces, brackets, quotes and backslashes inside them end nothing).
func TestReadDocumentSplitsSchemaFromFields(t *testing.T) {
	for _, c := range []struct {
		in, schema string
		fields     [][2]string
	}{
		{
			`{"$s":{"p":{"_id":{"t":"objectId"},"n":{"t":"int"}},"$k":["_id","n"]},"_id":"0123456789abcdef01234567","n":3}`,
			`{"p":{"_id":{"t":"objectId"},"n":{"t":"int"}},"$k":["_id","n"]}`,
			[][2]string{{"_id", `"0123456789abcdef01234567"`}, {"n", "3"}},
		},
		{
			`{"$s":{"p":{"a}\"[":{"t":"string"}},"$k":["a}\"["]},"a}\"[":"x\\\"}"}`,
			`{"p":{"a}\"[":{"t":"string"}},"$k":["a}\"["]}`,
			[][2]string{{`a}"[`, `"x\\\"}"`}},
		},
		{`{"$s":{"p":{},"$k":[]}}`, `{"p":{},"$k":[]}`, nil},
		{
			`{"$s":{"p":{"z":{"t":"object","$s":{"p":{},"$k":[]}}},"$k":["z"]},"z":{}}`,
			`{"p":{"z":{"t":"object","$s":{"p":{},"$k":[]}}},"$k":["z"]}`,
			[][2]string{{"z", "{}"}},
		},
	} {
		schema, fields, ok := fieldsOf(t, c.in)
		if !ok || schema != c.schema || !reflect.DeepEqual(fields, c.fields) {
			t.Errorf("%s: got %v %q %q, want %q %q", c.in, ok, schema, fields, c.schema, c.fields)
		}
	}
}

// Anything not written as sjson.Marshal writes it is left to the caller's slow path, uncalled.
func TestReadDocumentRefusesOtherShapes(t *testing.T) {
	for _, in := range []string{
		``,
		`{}`,
		`{"a":1,"$s":{"p":{},"$k":[]}}`,   // schema not first
		`{ "$s":{"p":{},"$k":[]}}`,        // not as Marshal writes it
		`{"$s":[],"a":1}`,                 // schema not an object
		`{"$s":{"p":{},"$k":[]}`,          // no end
		`{"$s":{"p":{},"$k":[]},"a":1`,    // fields never closed
		`{"$s":{"p":{},"$k":[]},"a":1}x`,  // something after the document
		`{"$s":{"p":{},"$k":[]}}x`,        // something after an empty document
		`{"$s":{"p":{},"$k":[]} ,"a":1}`,  // not as Marshal writes it
		`{"$s":{"p":{},"$k":["}]},"a":1}`, // the schema's string never closes
		`{"$s":{"p":{},"$k":[]},"a":tru}`, // not JSON
	} {
		called := false
		ok, err := ReadDocument([]byte(in), func([]byte, *Object) error { called = true; return nil })
		if ok || called || err != nil {
			t.Errorf("%q: ok %v, called %v, err %v", in, ok, called, err)
		}
	}
}

// use's error comes back as it is, with ok: the document had the form, the caller's reading failed.
func TestReadDocumentGivesUseError(t *testing.T) {
	boom := errors.New("boom")
	ok, err := ReadDocument([]byte(`{"$s":{"p":{},"$k":[]}}`), func([]byte, *Object) error { return boom })
	if !ok || !errors.Is(err, boom) {
		t.Fatalf("ok %v, err %v", ok, err)
	}
}

// Field values parse to what encoding/json reads from the same text: strings unescaped, numbers
// as written.
func TestReadDocumentValuesMatchTheStandardLibrary(t *testing.T) {
	doc := `{"$s":{"p":{},"$k":[]},"s":"caf\u00e9 \"q\" \\ \n \u2028 \ud83d\ude00","n":-1.5e300,"i":9007199254740993,"t":true,"z":null,"a":[1,"x",{"b":[]}]}`
	var want map[string]any
	if err := json.Unmarshal([]byte(`{`+doc[len(`{"$s":{"p":{},"$k":[]},`):]), &want); err != nil {
		t.Fatal(err)
	}
	_, fields, ok := fieldsOf(t, doc)
	if !ok || len(fields) != len(want) {
		t.Fatalf("ok %v, %d fields", ok, len(fields))
	}
	_, err := ReadDocument([]byte(doc), func(_ []byte, o *Object) error {
		s, err := o.Get("s").StringBytes()
		if err != nil || string(s) != want["s"] {
			t.Errorf("s: %q %v, want %q", s, err, want["s"])
		}
		if n := o.Get("n").String(); n != "-1.5e300" {
			t.Errorf("n: %s", n)
		}
		if i := o.Get("i").String(); i != "9007199254740993" {
			t.Errorf("i: %s (digits lost)", i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
