// This file is Hush's, not FerretDB's: the store's build (src/db/local-store.ts) copies it into the
// vendored github.com/FerretDB/FerretDB/internal/backends/sqlite package, and sqlite.patch makes
// collection.go's Query and Explain call hushWhere instead of pushing down only a bare {_id}.
// It only reads FerretDB's types and turns them into hush/store/pushdown's conditions; what may be
// pushed, and why the result is a superset of MongoDB's answer, is explained there.

package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"hush/store/pushdown"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
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

	return pushdown.Where(hushMatch(filter, hushFields(meta), 0))
}

// hushSelect is hushWhere's clause, or, when the find handler put a sort and limit in ctx
// (store/_ferretdb_patch/hush_find.go) that SQLite can serve exactly (pushdown.Order), the clause
// with its ORDER BY and LIMIT; ordered says which. On a capped collection, the clause restricted to
// the record IDs a tailable cursor still needs (pushdown.WithFrom). It is the clause Query and
// Explain run.
func hushSelect(ctx context.Context, db *fsql.DB, filter *types.Document, meta *metadata.Collection) (string, []any, bool, error) {
	where, args := hushWhere(filter, meta)
	if meta.Capped() {
		if pushdown.Off {
			return where, args, false, nil
		}
		where, args = pushdown.From(ctx, where, args, metadata.RecordIDColumn)
		return where, args, false, nil
	}
	o, ok := pushdown.OrderOf(ctx)
	if !ok || pushdown.Off || where == "" {
		return where, args, false, nil
	}
	conds, _, ok := hushTerms(filter, hushFields(meta), 0)
	if !ok {
		return where, args, false, nil
	}
	ordered, oargs, arrays, ok := pushdown.Ordered(meta.TableName, conds, o)
	if !ok {
		return where, args, false, nil
	}
	var one int
	switch err := db.QueryRowContext(ctx, arrays).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return ordered, oargs, true, nil
	case err != nil:
		return "", nil, false, err
	}
	return where, args, false, nil // a document holds an array there: MongoDB's order is not SQLite's
}

// hushFields are the fields conditions may be pushed on: the keys of the collection's twin indexes.
func hushFields(meta *metadata.Collection) map[string]bool {
	indexes := make([][]string, 0, len(meta.Settings.Indexes))
	for _, idx := range meta.Settings.Indexes {
		fields := make([]string, len(idx.Key))
		for i, kp := range idx.Key {
			fields[i] = kp.Field
		}
		indexes = append(indexes, fields)
	}
	return pushdown.Fields(indexes)
}

// hushMatch is the condition for one filter document: its fields' conditions, and its $or's.
func hushMatch(filter *types.Document, fields map[string]bool, depth int) pushdown.Expr {
	conds, or, ok := hushTerms(filter, fields, depth)
	if !ok {
		return pushdown.Expr{}
	}
	return pushdown.Both(pushdown.Match(conds), or)
}

// hushTerms are one filter document's top-level conditions and its $or's condition; ok is false for
// a repeated key, which leaves the whole filter to the handler.
func hushTerms(filter *types.Document, fields map[string]bool, depth int) ([]pushdown.Cond, pushdown.Expr, bool) {
	keys := filter.Keys()
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return nil, pushdown.Expr{}, false
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
	return conds, or, true
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

// hushCount counts in SQL the documents filter matches, when the aggregate handler asked for a
// count (pushdown.WithCount) and every part of filter translates exactly (hushExact), with no array
// in its fields; done says whether it did (then the caller returns no documents).
func hushCount(ctx context.Context, db *fsql.DB, filter *types.Document, meta *metadata.Collection) (bool, error) {
	c, ok := pushdown.CountOf(ctx)
	if !ok || pushdown.Off || meta.Capped() || filter.Len() == 0 {
		return false, nil
	}
	conds, kinds, ok := hushExact(filter, hushFields(meta))
	if !ok {
		return false, nil
	}
	count, args, arrays := pushdown.Counted(meta.TableName, conds, kinds)
	if arrays != "" {
		var one int
		switch err := db.QueryRowContext(ctx, arrays).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return false, err
		default:
			return false, nil // an array there: MongoDB matches by its elements
		}
	}
	if err := db.QueryRowContext(ctx, count, args...).Scan(&c.N); err != nil {
		return false, err
	}
	c.Done = true
	return true, nil
}

// hushExact is filter as conditions with their values' kinds, when every top-level key is a
// pushable field whose value or operators ($eq, $in, ranges on numbers and dates) translate, each
// with values of one kind; ok is false otherwise.
func hushExact(filter *types.Document, fields map[string]bool) ([]pushdown.Cond, []pushdown.Kind, bool) {
	var conds []pushdown.Cond
	var kinds []pushdown.Kind
	add := func(field string, op pushdown.Op, values ...any) bool {
		var kind pushdown.Kind
		args := make([]any, 0, len(values))
		for _, v := range values {
			k, ok := hushKind(v)
			if !ok || (kind != "" && k != kind) {
				return false
			}
			kind = k
			arg, ok := hushArg(field, v, op != pushdown.Eq && op != pushdown.In)
			if !ok {
				return false
			}
			args = append(args, arg)
		}
		if len(args) == 0 {
			return false
		}
		conds = append(conds, pushdown.Cond{Field: field, Op: op, Args: args})
		kinds = append(kinds, kind)
		return true
	}
	seen := map[string]bool{}
	for _, field := range filter.Keys() {
		if seen[field] || !pushdown.Pushable(field, fields) {
			return nil, nil, false
		}
		seen[field] = true
		v, _ := filter.Get(field)
		ops, isDoc := v.(*types.Document)
		if !isDoc {
			if !add(field, pushdown.Eq, v) {
				return nil, nil, false
			}
			continue
		}
		keys := ops.Keys()
		if len(keys) == 0 {
			return nil, nil, false
		}
		opSeen := map[string]bool{}
		for _, op := range keys {
			if opSeen[op] {
				return nil, nil, false
			}
			opSeen[op] = true
			operand, _ := ops.Get(op)
			ok := false
			switch op {
			case "$eq":
				ok = add(field, pushdown.Eq, operand)
			case "$in":
				if arr, isArr := operand.(*types.Array); isArr {
					values := make([]any, arr.Len())
					for i := range arr.Len() {
						values[i], _ = arr.Get(i)
					}
					ok = add(field, pushdown.In, values...)
				}
			case "$gt", "$gte", "$lt", "$lte":
				ok = field != "_id" && add(field, hushOps[op], operand)
			}
			if !ok {
				return nil, nil, false
			}
		}
	}
	return conds, kinds, true
}

// hushKind is the kind of a value a condition may compare with.
func hushKind(v any) (pushdown.Kind, bool) {
	switch v.(type) {
	case int32, int64, float64:
		return pushdown.KindNumber, true
	case time.Time:
		return pushdown.KindDate, true
	case string:
		return pushdown.KindString, true
	case types.ObjectID:
		return pushdown.KindObjectID, true
	case bool:
		return pushdown.KindBool, true
	}
	return "", false
}
