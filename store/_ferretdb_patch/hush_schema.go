package sjson

import (
	"bytes"
	"sync"

	json "hush/store/fastjson"
)

// schemas holds decoded document schemas by their JSON: a collection's documents mostly share a
// few shapes, so most documents' schema is decoded once. Decoded schemas are only read.
var schemas = struct {
	sync.RWMutex
	m map[string]*schema
}{m: map[string]*schema{}}

// maxSchemas bounds the cache; it starts over when full.
const maxSchemas = 4096

// hushSchema is the schema jsch holds, decoded as Unmarshal did before (unknown fields refused,
// nothing after the value).
func hushSchema(jsch []byte) (*schema, error) {
	schemas.RLock()
	sch, ok := schemas.m[string(jsch)]
	schemas.RUnlock()
	if ok {
		return sch, nil
	}

	sch = new(schema)
	r := bytes.NewReader(jsch)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(sch); err != nil {
		return nil, err
	}
	if err := checkConsumed(dec, r); err != nil {
		return nil, err
	}

	schemas.Lock()
	if len(schemas.m) >= maxSchemas {
		schemas.m = map[string]*schema{}
	}
	schemas.m[string(jsch)] = sch
	schemas.Unlock()
	return sch, nil
}
