// This file is Hush's, not FerretDB's: the store's build (src/db/local-store.ts) copies it into the
// vendored github.com/FerretDB/FerretDB/internal/handler package, and handler.patch makes find and
// explain call it. FerretDB's find sorts and limits in Go, after reading every document its filter
// selects; these hand a sort and its limit to the SQLite backend (pushdown.Order),
// which answers it with ORDER BY ... LIMIT when it can do so exactly, and check its answer. The
// aggregate handler counts the same way (countDocuments' pipeline: pushdown.Count).

package handler

import (
	"context"
	"math"
	"strings"

	"hush/store/pushdown"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/handler/common/aggregations"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// hushOrder is the order a query with this (validated) sort, skip and limit may hand the backend.
func (h *Handler) hushOrder(sort *types.Document, skip, limit int64, capped, tailable bool) (pushdown.Order, bool) {
	if h.DisablePushdown || pushdown.Off || capped || tailable || limit <= 0 || skip < 0 || sort.Len() == 0 {
		return pushdown.Order{}, false
	}
	keys := make([]pushdown.SortKey, 0, sort.Len())
	for _, field := range sort.Keys() {
		v, _ := sort.Get(field)
		dir, ok := v.(int64)
		if !ok || (dir != 1 && dir != -1) {
			return pushdown.Order{}, false
		}
		keys = append(keys, pushdown.SortKey{Field: field, Desc: dir == -1})
	}
	return pushdown.Order{Keys: keys, Limit: skip + limit}, true
}

// hushChecked returns the documents of res, the backend's answer to a query with order o: as they
// are when each of them matches filter (then they hold the first o.Limit matches; with a sort on
// several keys there may be more, the ties on the first key), or else when there are fewer than
// o.Limit (then they hold every match); otherwise the answer of the query
// without the order, where the handler sorts everything the filter selects, as FerretDB does.
func hushChecked(ctx context.Context, coll backends.Collection, qp *backends.QueryParams, res *backends.QueryResult, filter *types.Document, o pushdown.Order) (*backends.QueryResult, error) {
	docs, err := iterator.ConsumeValues(res.Iter)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}
	if int64(len(docs)) >= o.Limit {
		for _, doc := range docs {
			ok, err := common.FilterDocument(doc, filter)
			if err != nil {
				return nil, lazyerrors.Error(err)
			}
			if !ok {
				return coll.Query(ctx, qp)
			}
		}
	}
	return &backends.QueryResult{Iter: iterator.Values(iterator.ForSlice(docs))}, nil
}

// hushGroup is the $group of countDocuments' pipeline: its _id and the field the count goes in.
type hushGroup struct {
	id    any
	field string
}

// hushCountOf is the group of a pipeline that only counts what its $match matches, `[{$match:
// filter}, {$group: {_id: <constant>, <field>: {$sum: 1}}}]` (the driver's countDocuments), with no
// dotted key in the filter (the aggregate handler drops those before the backend sees the filter).
func hushCountOf(stages []any) (hushGroup, bool) {
	if len(stages) != 2 {
		return hushGroup{}, false
	}
	match, ok := hushOnly(stages[0], "$match")
	if !ok {
		return hushGroup{}, false
	}
	for _, k := range match.Keys() {
		if strings.ContainsRune(k, '.') {
			return hushGroup{}, false
		}
	}
	group, ok := hushOnly(stages[1], "$group")
	if !ok || group.Len() != 2 || group.Keys()[0] != "_id" {
		return hushGroup{}, false
	}
	id, _ := group.Get("_id")
	switch id.(type) {
	case int32, int64, float64, string:
	default:
		return hushGroup{}, false
	}
	field := group.Keys()[1]
	acc, ok := must.NotFail(group.Get(field)).(*types.Document)
	if !ok || acc.Len() != 1 || acc.Keys()[0] != "$sum" {
		return hushGroup{}, false
	}
	switch must.NotFail(acc.Get("$sum")) {
	case int32(1), int64(1), float64(1):
		return hushGroup{id: id, field: field}, true
	}
	return hushGroup{}, false
}

// hushOnly is v's value under key when v is a document with that one key, and that value a document.
func hushOnly(v any, key string) (*types.Document, bool) {
	doc, ok := v.(*types.Document)
	if !ok || doc.Len() != 1 || doc.Keys()[0] != key {
		return nil, false
	}
	inner, ok := must.NotFail(doc.Get(key)).(*types.Document)
	return inner, ok
}

// hushCounted runs the stages of a counting pipeline (hushCountOf) after asking the backend to
// count in SQL (pushdown.WithCount): its answer is then the group's one document (none for 0, as
// MongoDB's $group gives), and otherwise the stages run on what the backend read, as FerretDB does.
func hushCounted(ctx context.Context, closer *iterator.MultiCloser, c backends.Collection, qp *backends.QueryParams, stages []aggregations.Stage, g hushGroup) (types.DocumentsIterator, error) { //nolint:lll // for readability
	count := &pushdown.Count{}
	queryRes, err := c.Query(pushdown.WithCount(ctx, count), qp)
	if err != nil {
		closer.Close()
		return nil, lazyerrors.Error(err)
	}
	closer.Add(queryRes.Iter)
	if !count.Done {
		iter := queryRes.Iter
		for _, s := range stages {
			if iter, err = s.Process(ctx, iter, closer); err != nil {
				return nil, err
			}
		}
		return iter, nil
	}
	var docs []*types.Document
	if count.N > 0 {
		var n any = count.N
		if count.N <= math.MaxInt32 {
			n = int32(count.N)
		}
		docs = append(docs, must.NotFail(types.NewDocument("_id", g.id, g.field, n)))
	}
	return iterator.Values(iterator.ForSlice(docs)), nil
}
