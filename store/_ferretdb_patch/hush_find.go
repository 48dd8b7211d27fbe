// This file is Hush's, not FerretDB's: the store's build (src/db/local-store.ts) copies it into the
// vendored github.com/FerretDB/FerretDB/internal/handler package, and handler.patch makes find and
// explain call it. FerretDB's find sorts and limits in Go, after reading every document its filter
// selects; these hand a sort and its limit to the SQLite backend (pushdown.Order),
// which answers it with ORDER BY ... LIMIT when it can do so exactly, and check its answer.

package handler

import (
	"context"

	"hush/store/pushdown"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
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
