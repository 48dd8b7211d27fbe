package fastjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

type point struct {
	X int    `json:"x"`
	S string `json:"s"`
}

// Decode answers what encoding/json's Decoder answers, followed by sjson's check that nothing is
// left, for the values sjson stores.
func TestDecodeMatchesTheStandardLibrary(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"b":"two","c":[1,2,{"d":null}],"e":{"f":true}}`,
		`"caf\u00e9 \"quoted\" \\ \n"`,
		`{"$s":{"p":{"_id":{"t":"objectId"}},"$k":["_id"]},"_id":"0123456789abcdef01234567"}`,
		`-1.5e300`,
		`[]`,
	} {
		var want, got any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(in, err)
		}
		if err := NewDecoder(bytes.NewReader([]byte(in))).Decode(&got); err != nil {
			t.Fatal(in, err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: got %#v, want %#v", in, got, want)
		}
	}
}

// A map of raw messages keeps each value's bytes, as sjson reads a document's fields.
func TestRawMessages(t *testing.T) {
	var v map[string]RawMessage
	if err := NewDecoder(bytes.NewReader([]byte(`{"a":{"b":[1, 2]},"c":"x"}`))).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if string(v["a"]) != `{"b":[1, 2]}` || string(v["c"]) != `"x"` {
		t.Errorf("got %q", v)
	}
}

// Anything after the value, or a field the struct lacks when unknown fields are refused, is an
// error; the reader is consumed and Buffered is empty.
func TestRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, in := range []string{`{"x":1} {"x":2}`, `{"x":1}x`, `{"x":1`, `"open`, `{"x":"1"}`} {
		var p point
		if err := NewDecoder(bytes.NewReader([]byte(in))).Decode(&p); err == nil {
			t.Errorf("%s: no error", in)
		}
		d := NewDecoder(bytes.NewReader([]byte(in)))
		d.DisallowUnknownFields()
		if err := d.Decode(&p); err == nil {
			t.Errorf("%s: no error with unknown fields refused", in)
		}
	}
	strict := NewDecoder(bytes.NewReader([]byte(`{"x":1,"y":2}`)))
	strict.DisallowUnknownFields()
	var p point
	if err := strict.Decode(&p); err == nil {
		t.Error("an unknown field was accepted")
	}
	r := bytes.NewReader([]byte(`{"x":1,"s":"a"}`))
	d := NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil || p != (point{1, "a"}) {
		t.Fatalf("got %v, %v", p, err)
	}
	if r.Len() != 0 || d.Buffered().(*bytes.Reader).Len() != 0 {
		t.Error("input left over")
	}
}

// Scalars decode the same with unknown fields refused (they have none), and still refuse
// anything after the value.
func TestScalarsWithUnknownFieldsRefused(t *testing.T) {
	strict := func(in string) *Decoder {
		d := NewDecoder(bytes.NewReader([]byte(in)))
		d.DisallowUnknownFields()
		return d
	}
	var s string
	if err := strict(`"0123456789abcdef01234567"`).Decode(&s); err != nil || s != "0123456789abcdef01234567" {
		t.Fatalf("got %q, %v", s, err)
	}
	var n int64
	if err := strict(`-1702000000000`).Decode(&n); err != nil || n != -1702000000000 {
		t.Fatalf("got %d, %v", n, err)
	}
	for _, in := range []string{`"a" "b"`, `"a"x`, `1 2`, `"open`} {
		if err := strict(in).Decode(&s); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	if err := strict(`1 2`).Decode(&n); err == nil {
		t.Error("1 2: no error")
	}
}

// A schema whose keys hold characters JSON escapes (a quote, a backslash, <, &, U+2028) is read
// whole: go-json's InputOffset, once used to check that nothing follows, counted it short.
func TestEscapedKeysWithUnknownFieldsRefused(t *testing.T) {
	type elem struct {
		T string `json:"t"`
	}
	type schema struct {
		P map[string]*elem `json:"p"`
		K []string         `json:"$k"`
	}
	for _, key := range []string{`b"q`, `b\`, "x<y&z>", "x\u2028y", "plain"} {
		in := fmt.Sprintf(`{"p":{%q:{"t":"string"}},"$k":[%q]}`, key, key)
		var got schema
		d := NewDecoder(bytes.NewReader([]byte(in)))
		d.DisallowUnknownFields()
		if err := d.Decode(&got); err != nil || len(got.K) != 1 || got.P[got.K[0]] == nil {
			t.Errorf("%s: %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{`{"p":{"b\"":{"t":"s"}},"$k":[]} x`, `{"p":{},"$k":[]}{}`} {
		var got schema
		d := NewDecoder(bytes.NewReader([]byte(in)))
		d.DisallowUnknownFields()
		if err := d.Decode(&got); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
