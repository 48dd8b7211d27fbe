// Hush: added to FerretDB's internal/util/fsql package at build time (src/local-store.ts).

package fsql

import (
	"context"
	"database/sql"
	"sync"
)

// hushStmtsMax bounds the statements kept prepared. A statement's SQL holds the collection's table,
// the shape of the filter and a pushed-down LIMIT, never a value, so a server uses a few dozen.
const hushStmtsMax = 512

// hushStmts keeps the statements DB.QueryContext and DB.QueryRowContext run prepared, by their SQL:
// SQLite parsed and planned each one on every query (a tenth of the store's time for a history
// page's reads). database/sql prepares a kept statement once on each pooled connection and the
// SQLite driver resets it after each use, so a kept statement holds no read transaction open; SQLite
// prepares it again by itself when the table's schema changes (a new index), as it plans a
// statement it has not seen. A statement that cannot be prepared is not kept: the query then runs
// as before and fails as before.
type hushStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement for query, preparing and keeping it the first time; nil when
// it cannot be prepared or when hushStmtsMax are kept (no statement is closed while in use, so none
// is ever evicted: the query then runs unprepared, as before).
func (c *hushStmts) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	s, full := c.m[query], len(c.m) >= hushStmtsMax
	c.mu.Unlock()

	if s != nil || full {
		return s
	}

	s, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()

	if kept := c.m[query]; kept != nil {
		s.Close()
		return kept
	}

	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}

	if len(c.m) >= hushStmtsMax {
		s.Close()
		return nil
	}

	c.m[query] = s

	return s
}

// close closes every kept statement (DB.Close).
func (c *hushStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()

	for _, s := range c.m {
		s.Close()
	}

	c.m = nil
}

// query is sqlDB.QueryContext through the kept statement.
func (c *hushStmts) query(ctx context.Context, db *sql.DB, query string, args ...any) (*sql.Rows, error) {
	if s := c.get(ctx, db, query); s != nil {
		return s.QueryContext(ctx, args...)
	}

	return db.QueryContext(ctx, query, args...)
}

// queryRow is sqlDB.QueryRowContext through the kept statement.
func (c *hushStmts) queryRow(ctx context.Context, db *sql.DB, query string, args ...any) *sql.Row {
	if s := c.get(ctx, db, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}

	return db.QueryRowContext(ctx, query, args...)
}
