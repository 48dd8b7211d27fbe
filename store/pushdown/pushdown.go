// Package pushdown turns the top-level conditions of a MongoDB filter into a WHERE clause over the
// sjson column of FerretDB's SQLite backend, and names the indexes that serve it.
//
// FerretDB v1.24's SQLite backend pushes only a bare {_id} filter down and filters everything else
// in Go after reading the whole table. The backend contract lets it apply a filter partially: the
// handler filters the documents again. So the clause built here must select a SUPERSET of what
// MongoDB matches, never fewer documents, and is built only for conditions whose meaning in SQL is
// known to be that superset:
//
//   - equality ({k: v}, {k: {$eq: v}}) and {k: {$in: [...]}} on strings, ObjectIds (stored as their
//     hex string: a string with the same hex is selected too), numbers (an int32, int64 or double
//     is stored as a JSON number, `->>` gives the SQL number and SQLite compares integers and reals
//     exactly, as MongoDB does), dates (stored as an integer of milliseconds: numbers equal to it are
//     selected too) and booleans (true is the SQL integer 1: the number 1 is selected too);
//   - ranges ($gt, $gte, $lt, $lte) on numbers and dates. SQLite orders NULL < numbers < TEXT, so a
//     range on a number never selects a missing field, and `$gt` may select strings: extra rows;
//   - in MongoDB {k: v} also matches a document whose k is an ARRAY holding v, and a range matches
//     an array with an element in it: every document with an array in a pushed field is selected
//     too (`json_type(...) = 'array'`), through a partial index that holds only those documents.
//
// The clause is `(c1 AND c2 ...) OR k1 is an array OR k2 is an array ...`: a document MongoDB
// matches either has no array in the pushed fields, and then satisfies every ci, or has one. A
// top-level $or whose every branch has such a clause adds the OR of the branches' clauses (ANDed
// with the rest); a branch without one leaves the $or to the handler. SQLite
// serves such an OR by a union of index searches (MULTI-INDEX OR) when every branch has an index:
// the conjunction by the "twin" of a declared index (the same keys, on `->>`, the SQL value;
// FerretDB's own index is on `->`, the JSON text, which orders '9' after '10'), each array test by
// the partial index on it. A field gets conditions only when it is a key of a twin (so it has its
// array index); conditions on other fields, dotted paths, nulls, other types and operators are
// left to the handler. _id uses the expression FerretDB itself looks _id up with (JSON text),
// which the store's lookup index covers; an _id is never an array.
package pushdown

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Off is set for plain FerretDB (HUSH_STORE_RAW=1, for benchmarks that compare): the backend then
// pushes down only a bare {_id: <string or ObjectId>}, as FerretDB v1.24.2 does.
var Off = os.Getenv("HUSH_STORE_RAW") == "1"

// TailAll is set only by the idle benchmark's baseline (HUSH_STORE_TAIL_ALL=1, bench/idle.ts): a
// tailable cursor's getMore then reads the whole capped collection again, as FerretDB v1.24.2 does.
var TailAll = os.Getenv("HUSH_STORE_TAIL_ALL") == "1"

// Column is FerretDB's document column (metadata.DefaultColumn).
const Column = "_ferretdb_sjson"

// IDExpr is the expression FerretDB looks _id up with (metadata.IDColumn), compared with the
// value's sjson text; the store's lookup index is on exactly this expression.
const IDExpr = Column + `->'$._id'`

// simple is a field name that needs no quoting in a JSON path and is not a dotted path.
var simple = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValueExpr is the SQL value of the top-level field f (its twin index expression).
func ValueExpr(f string) string { return fmt.Sprintf("%s->>'$.%s'", Column, f) }

// ArrayTest is true for a document whose field f is an array (the partial index's WHERE).
func ArrayTest(f string) string { return fmt.Sprintf("json_type(%s, '$.%s') = 'array'", Column, f) }

func arrayExpr(f string) string { return fmt.Sprintf("json_type(%s, '$.%s')", Column, f) }

// TwinKeys is the part of a declared index's keys the twin covers: the leading simple fields up to
// the first dotted path or _id (the WHERE never uses `->>` for those). Nil when nothing is left.
func TwinKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if k == "_id" || !simple.MatchString(k) {
			break
		}
		out = append(out, k)
	}
	return out
}

// Fields is the set of fields conditions may be pushed on, given a collection's declared indexes'
// keys: every key of every twin.
func Fields(indexes [][]string) map[string]bool {
	fields := map[string]bool{}
	for _, keys := range indexes {
		for _, k := range TwinKeys(keys) {
			fields[k] = true
		}
	}
	return fields
}

// IndexStatements are the CREATE INDEX statements for a table with these declared indexes: a twin
// per index and an array index per twin key. Names are derived from the expressions, so running
// them again is a no-op. They start with FerretDB's reserved prefix, which no table or FerretDB
// index name uses.
func IndexStatements(table string, indexes [][]string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(kind, def string) {
		sum := sha256.Sum256([]byte(def))
		name := "_ferretdb_hush_" + kind + "_" + table + "_" + hex.EncodeToString(sum[:6])
		if !seen[name] {
			seen[name] = true
			out = append(out, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s %s", quote(name), quote(table), def))
		}
	}
	for _, keys := range indexes {
		twin := TwinKeys(keys)
		if len(twin) == 0 {
			continue
		}
		// Each key's value, then each key's type in the document's schema: the types serve no search
		// (they come after every value) but make the index cover a count's type tests (Counted), so a
		// count reads index entries only, never the documents.
		exprs := make([]string, 0, 2*len(twin))
		for _, k := range twin {
			exprs = append(exprs, ValueExpr(k))
		}
		for _, k := range twin {
			exprs = append(exprs, typeExpr(k))
		}
		add("v", "("+strings.Join(exprs, ", ")+")")
		for _, k := range twin {
			add("a", "("+arrayExpr(k)+") WHERE "+ArrayTest(k))
		}
	}
	return out
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// Op is a comparison pushed to SQL.
type Op string

const (
	Eq  Op = "="
	In  Op = "IN"
	Gt  Op = ">"
	Gte Op = ">="
	Lt  Op = "<"
	Lte Op = "<="
)

// Cond is one condition on a top-level field. Args are SQL values (string, int64 or float64), or
// for _id the values' sjson texts; In takes any number, the others exactly one.
type Cond struct {
	Field string
	Op    Op
	Args  []any
}

// Expr is an SQL condition with its arguments, in placeholder order; the zero Expr is "nothing
// pushed" (no restriction).
type Expr struct {
	SQL  string
	Args []any
}

// Match is the superset condition for conds, all ANDed by one filter document.
func Match(conds []Cond) Expr {
	if len(conds) == 0 {
		return Expr{}
	}
	terms := make([]string, 0, len(conds))
	var args []any
	var arrays []string
	seen := map[string]bool{}
	for _, c := range conds {
		if c.Field != "_id" && !seen[c.Field] {
			seen[c.Field] = true
			arrays = append(arrays, ArrayTest(c.Field))
		}
		terms = append(terms, condTerm(c))
		args = append(args, c.Args...)
	}
	sql := strings.Join(terms, " AND ")
	if len(arrays) > 0 {
		sql = "(" + sql + ") OR " + strings.Join(arrays, " OR ")
	}
	return Expr{SQL: sql, Args: args}
}

// AnyOf is the superset condition for a $or of branches given theirs: nothing when a branch has
// none (that branch alone may match any document).
func AnyOf(branches []Expr) Expr {
	if len(branches) == 0 {
		return Expr{}
	}
	sqls := make([]string, len(branches))
	var args []any
	for i, b := range branches {
		if b.SQL == "" {
			return Expr{}
		}
		sqls[i] = "(" + b.SQL + ")"
		args = append(args, b.Args...)
	}
	return Expr{SQL: strings.Join(sqls, " OR "), Args: args}
}

// Both is the superset condition for a document matching both a and b.
func Both(a, b Expr) Expr {
	switch {
	case a.SQL == "":
		return b
	case b.SQL == "":
		return a
	}
	return Expr{SQL: "(" + a.SQL + ") AND (" + b.SQL + ")", Args: append(append([]any{}, a.Args...), b.Args...)}
}

// Where is ` WHERE <e>`, or "" when e restricts nothing.
func Where(e Expr) (string, []any) {
	if e.SQL == "" {
		return "", nil
	}
	return " WHERE " + e.SQL, e.Args
}

// Pushable reports whether field f may get conditions, given Fields' set.
func Pushable(f string, fields map[string]bool) bool { return f == "_id" || fields[f] }

// Text is s as an SQL argument, if SQLite's `->>` gives back exactly s for it: valid UTF-8 (the
// sjson encoder replaces invalid bytes) without NUL.
func Text(s string) (any, bool) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return nil, false
	}
	return s, true
}

// Double is f as an SQL argument, if finite.
func Double(f float64) (any, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

// Order is a find's sort (its keys in order, each ascending or descending) with its limit (skip +
// limit), handed by FerretDB's find handler (store/_ferretdb_patch/hush_find.go) to the SQLite
// backend through the query's context, since the backend contract takes only a $natural sort.
//
// The backend answers it in SQL only when its rows then hold MongoDB's first n matches, provided
// each of them matches the whole filter (the handler checks that, and asks again without the order
// if one does not; it sorts and limits what comes back as always):
//   - the clause selects every matching document without an array in a pushed field (Match's
//     argument without its array branches), and no document there has an array in a field of the
//     clause or in the first sort key (checked first, through the partial array indexes), so no
//     match is left out;
//   - the filter has an equality or range condition on the first sort key itself, so every match
//     holds there one value, or only numbers, or only dates, where SQLite's order (on `->>`) is
//     MongoDB's.
//
// One key: `ORDER BY a LIMIT n` (SQLite walks the twin index from the equality prefix and stops
// after n rows). Several keys (`{a: -1, b: -1}`): SQLite orders by the first only, and MongoDB's
// later keys decide among documents equal there, in an order (types, arrays) SQLite need not share.
// So the rows are every row at least as far in the order as the n-th one on a, ties included:
// `a >= (the n-th largest a)`, one index search for that value and one range search after it, which
// hold MongoDB's first n whatever the later keys hold; the handler orders them by every key.
type Order struct {
	Keys  []SortKey
	Limit int64
}

// SortKey is one key of a sort.
type SortKey struct {
	Field string
	Desc  bool
}

type orderKey struct{}

// WithOrder is ctx carrying o for the backend.
func WithOrder(ctx context.Context, o Order) context.Context {
	return context.WithValue(ctx, orderKey{}, o)
}

// OrderOf is the Order ctx carries, if any.
func OrderOf(ctx context.Context) (Order, bool) {
	o, ok := ctx.Value(orderKey{}).(Order)
	return o, ok
}

// Ordered is the clause for o over conds (all ANDed by the filter): the WHERE without array
// branches with its ORDER BY and LIMIT (or, for several keys, the bound on the first key), and the
// query that finds a document with an array in one of the fields involved (if it returns a row, the
// order must not be pushed). ok is false when o cannot be served exactly (see Order).
func Ordered(table string, conds []Cond, o Order) (where string, args []any, arrays string, ok bool) {
	if o.Limit <= 0 || len(o.Keys) == 0 {
		return "", nil, "", false
	}
	first := o.Keys[0]
	if first.Field == "_id" || !simple.MatchString(first.Field) {
		return "", nil, "", false
	}
	sorted := false
	terms := make([]string, 0, len(conds))
	tests := []string{}
	seen := map[string]bool{}
	for _, c := range conds {
		expr := IDExpr
		if c.Field != "_id" {
			expr = ValueExpr(c.Field)
			if !seen[c.Field] {
				seen[c.Field] = true
				tests = append(tests, ArrayTest(c.Field))
			}
		}
		if c.Field == first.Field && c.Op != In {
			sorted = true
		}
		if c.Op == In {
			terms = append(terms, fmt.Sprintf("%s IN (%s)", expr, strings.TrimSuffix(strings.Repeat("?, ", len(c.Args)), ", ")))
		} else {
			terms = append(terms, fmt.Sprintf("%s %s ?", expr, c.Op))
		}
		args = append(args, c.Args...)
	}
	if !sorted {
		return "", nil, "", false
	}
	dir, past, none := "", "<=", "9e999" // ascending: rows up to the n-th; with fewer, all of them
	if first.Desc {
		dir, past, none = " DESC", ">=", "-9e999"
	}
	key := ValueExpr(first.Field)
	match := strings.Join(terms, " AND ")
	arrays = fmt.Sprintf("SELECT 1 FROM %s WHERE %s LIMIT 1", quote(table), strings.Join(tests, " OR "))
	if len(o.Keys) == 1 {
		return fmt.Sprintf(" WHERE %s ORDER BY %s%s LIMIT %d", match, key, dir, o.Limit), args, arrays, true
	}
	nth := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s%s LIMIT 1 OFFSET %d", key, quote(table), match, key, dir, o.Limit-1)
	where = fmt.Sprintf(" WHERE %s AND %s %s COALESCE((%s), %s) ORDER BY %s%s", match, key, past, nth, none, key, dir)
	return where, append(append([]any{}, args...), args...), arrays, true
}

type fromKey struct{}

// WithFrom is ctx asking a capped collection's query for the document with record ID id and those
// after it only: a tailable cursor's getMore (store/_ferretdb_patch/hush_find.go) runs its query
// again to find what came after the last document it read, which FerretDB finds by reading the
// whole collection from its start (every 10 ms while an awaitData getMore waits). The last one is
// included because the cursor skips up to it.
func WithFrom(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, fromKey{}, id)
}

// From is the WHERE clause where (with its args) restricted to the record IDs WithFrom's ctx asks
// for, if it asks: column is FerretDB's record ID column, the capped table's INTEGER PRIMARY KEY.
func From(ctx context.Context, where string, args []any, column string) (string, []any) {
	id, ok := ctx.Value(fromKey{}).(int64)
	if !ok || id <= 0 || TailAll {
		return where, args
	}
	cond := quote(column) + " >= ?"
	if where == "" {
		return " WHERE " + cond, []any{id}
	}
	return " WHERE (" + strings.TrimPrefix(where, " WHERE ") + ") AND " + cond, append(append([]any{}, args...), id)
}

// Kind is the BSON type class of a condition's values, as FerretDB's schema of each document (its
// "$s") names the type of a top-level field.
type Kind string

const (
	KindString   Kind = "string"
	KindObjectID Kind = "objectId"
	KindBool     Kind = "bool"
	KindNumber   Kind = "number"
	KindDate     Kind = "date"
)

var schemaTypes = map[Kind]string{
	KindString:   "'string'",
	KindObjectID: "'objectId'",
	KindBool:     "'bool'",
	KindNumber:   "'int', 'long', 'double'",
	KindDate:     "'date'",
}

// TypeTest is true for a document whose top-level field f holds a value of kind k, by its schema.
func TypeTest(f string, k Kind) string {
	return fmt.Sprintf(`%s IN (%s)`, typeExpr(f), schemaTypes[k])
}

// typeExpr is the type FerretDB's schema (a document's "$s") names for top-level field f; the twin
// index holds it, written the same way, for TypeTest.
func typeExpr(f string) string { return fmt.Sprintf(`json_extract(%s, '$."$s".p.%s.t')`, Column, f) }

// Count is a count the aggregate handler (store/_ferretdb_patch/hush_find.go) asks the backend for
// through the query's context: countDocuments' pipeline, `[{$match: filter}, {$group: {_id: 1, n:
// {$sum: 1}}}]`, which FerretDB answers by reading and decoding every document it counts. The
// backend sets Done and N when it counted in SQL; otherwise it answers the query as usual.
type Count struct {
	N    int64
	Done bool
}

type countKey struct{}

// WithCount is ctx asking the backend to count into c.
func WithCount(ctx context.Context, c *Count) context.Context {
	return context.WithValue(ctx, countKey{}, c)
}

// CountOf is the Count ctx asks for, if any.
func CountOf(ctx context.Context) (*Count, bool) {
	c, ok := ctx.Value(countKey{}).(*Count)
	return c, ok
}

// condTerm is one condition in SQL: on the _id lookup column, or on the field's value.
func condTerm(c Cond) string {
	expr := IDExpr
	if c.Field != "_id" {
		expr = ValueExpr(c.Field)
	}
	if c.Op == In {
		return fmt.Sprintf("%s IN (%s)", expr, strings.TrimSuffix(strings.Repeat("?, ", len(c.Args)), ", "))
	}
	return fmt.Sprintf("%s %s ?", expr, c.Op)
}

// Counted is `SELECT COUNT(*)` over the documents matching conds, all ANDed, conds[i]'s values of
// kind kinds[i], with the query that finds a document with an array in one of their fields (if it
// returns a row, the count must not be made in SQL; "" when no field can hold one). The caller
// passes only a filter every part of which is one of conds: then the count is exactly MongoDB's,
// because each condition is its SQL comparison on the value (`->>`, or the JSON text for _id) and
// the value's type in the document's schema, where the superset of Match (an ObjectId's hex for a
// string, a date for a number, true for 1) is what the type test takes out again. It is one search
// of a twin index (or the _id lookup index); the type test reads the rows it counts, in SQLite.
func Counted(table string, conds []Cond, kinds []Kind) (count string, args []any, arrays string) {
	terms := make([]string, 0, 2*len(conds))
	var tests []string
	seen := map[string]bool{}
	for i, c := range conds {
		if c.Field != "_id" && !seen[c.Field] {
			seen[c.Field] = true
			tests = append(tests, ArrayTest(c.Field))
		}
		terms = append(terms, condTerm(c), TypeTest(c.Field, kinds[i]))
		args = append(args, c.Args...)
	}
	count = fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", quote(table), strings.Join(terms, " AND "))
	if len(tests) > 0 {
		arrays = fmt.Sprintf("SELECT 1 FROM %s WHERE %s LIMIT 1", quote(table), strings.Join(tests, " OR "))
	}
	return count, args, arrays
}
