// This file is Hush's, not FerretDB's: the store's build (src/db/local-store.ts) copies it into the
// vendored github.com/FerretDB/FerretDB/internal/backends/sqlite package, and sqlite.patch makes
// collection.go's Query and Explain call hushWhere instead of pushing down only a bare {_id}.
// It only reads FerretDB's types and turns them into hush/store/pushdown's conditions; what may be
// pushed, and why the result is a superset of MongoDB's answer, is explained there.

package sqlite

import (
	"encoding/hex"
	"strings"
	"time"

	"hush/store/pushdown"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
)

// hushWhere returns the WHERE clause (with its leading space) and arguments for filter's pushable
// conditions on the collection, or "" when none is.
func hushWhere(filter *types.Document, meta *metadata.Collection) (string, []any) {
	if pushdown.Off {
		keys := filter.Keys()
		if len(keys) != 1 || keys[0] != "_id" {
			return "", nil
		}
		v, _ := filter.Get("_id")
		if arg, ok := hushArg("_id", v, false); ok {
			return pushdown.Where(pushdown.Match([]pushdown.Cond{{Field: "_id", Op: pushdown.Eq, Args: []any{arg}}}))
		}
		return "", nil
	}

	indexes := make([][]string, 0, len(meta.Settings.Indexes))
	for _, idx := range meta.Settings.Indexes {
		fields := make([]string, len(idx.Key))
		for i, kp := range idx.Key {
			fields[i] = kp.Field
		}
		indexes = append(indexes, fields)
	}
	return pushdown.Where(hushMatch(filter, pushdown.Fields(indexes), 0))
}

// hushMatch is the condition for one filter document: its fields' conditions, and its $or's.
func hushMatch(filter *types.Document, fields map[string]bool, depth int) pushdown.Expr {
	keys := filter.Keys()
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return pushdown.Expr{} // a repeated key: leave the whole filter to the handler
		}
		seen[k] = true
	}

	var conds []pushdown.Cond
	var or pushdown.Expr
	for _, k := range keys {
		v, _ := filter.Get(k)
		if k == "$or" && depth < 2 {
			or = hushOr(v, fields, depth+1)
			continue
		}
		if pushdown.Pushable(k, fields) {
			conds = append(conds, hushConds(k, v)...)
		}
	}
	return pushdown.Both(pushdown.Match(conds), or)
}

func hushOr(v any, fields map[string]bool, depth int) pushdown.Expr {
	arr, ok := v.(*types.Array)
	if !ok {
		return pushdown.Expr{}
	}
	branches := make([]pushdown.Expr, arr.Len())
	for i := range arr.Len() {
		e, _ := arr.Get(i)
		doc, ok := e.(*types.Document)
		if !ok {
			return pushdown.Expr{}
		}
		branches[i] = hushMatch(doc, fields, depth)
	}
	return pushdown.AnyOf(branches)
}

// hushConds are the conditions pushed for one field's filter value: nothing for what is not known
// to translate exactly.
func hushConds(field string, v any) []pushdown.Cond {
	ops, ok := v.(*types.Document)
	if !ok {
		if arg, ok := hushArg(field, v, false); ok {
			return []pushdown.Cond{{Field: field, Op: pushdown.Eq, Args: []any{arg}}}
		}
		return nil
	}
	keys := ops.Keys()
	if len(keys) == 0 || !strings.HasPrefix(keys[0], "$") {
		return nil // equality with an embedded document
	}
	seen := make(map[string]bool, len(keys))
	var conds []pushdown.Cond
	for _, op := range keys {
		if seen[op] {
			return nil
		}
		seen[op] = true
		operand, _ := ops.Get(op)
		switch op {
		case "$eq":
			if arg, ok := hushArg(field, operand, false); ok {
				conds = append(conds, pushdown.Cond{Field: field, Op: pushdown.Eq, Args: []any{arg}})
			}
		case "$in":
			arr, ok := operand.(*types.Array)
			if !ok || arr.Len() == 0 {
				continue
			}
			args := make([]any, 0, arr.Len())
			for i := range arr.Len() {
				e, _ := arr.Get(i)
				arg, ok := hushArg(field, e, false)
				if !ok {
					args = nil
					break
				}
				args = append(args, arg)
			}
			if args != nil {
				conds = append(conds, pushdown.Cond{Field: field, Op: pushdown.In, Args: args})
			}
		case "$gt", "$gte", "$lt", "$lte":
			if field == "_id" {
				continue
			}
			if arg, ok := hushArg(field, operand, true); ok {
				conds = append(conds, pushdown.Cond{Field: field, Op: hushOps[op], Args: []any{arg}})
			}
		}
	}
	return conds
}

var hushOps = map[string]pushdown.Op{"$gt": pushdown.Gt, "$gte": pushdown.Gte, "$lt": pushdown.Lt, "$lte": pushdown.Lte}

// hushArg is v as an SQL argument for field, if its type is pushed: for _id a string or ObjectId as
// FerretDB stores it (sjson text); otherwise the SQL value `->>` gives for it, only numbers and
// dates when it bounds a range.
func hushArg(field string, v any, ranged bool) (any, bool) {
	if field == "_id" {
		switch v.(type) {
		case string, types.ObjectID:
			b, err := sjson.MarshalSingleValue(v)
			return string(b), err == nil
		}
		return nil, false
	}
	switch v := v.(type) {
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return pushdown.Double(v)
	case time.Time:
		return v.UnixMilli(), true
	}
	if ranged {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return pushdown.Text(v)
	case types.ObjectID:
		return hex.EncodeToString(v[:]), true
	case bool:
		if v {
			return int64(1), true
		}
		return int64(0), true
	}
	return nil, false
}
