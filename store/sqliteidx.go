package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses

	"hush/store/pushdown"
)

// FerretDB v1.24's SQLite backend creates a collection's _id index on `_ferretdb_sjson->"_id"` but
// looks documents up (find, and the UPDATE/DELETE of every write) with
// `_ferretdb_sjson->'$._id' = ?` (internal/backends/sqlite/metadata.IDColumn). SQLite only uses an
// expression index for the same expression, so every _id lookup scanned the table. The store adds
// a second index on exactly the lookup expression to every collection table. It is not unique:
// FerretDB's own index already enforces uniqueness and remains the one that reports duplicates.
//
// The same pass creates the indexes the patched backend's filter pushdown searches (package
// pushdown): a twin of each declared index on the fields' SQL values, and a partial index of the
// documents holding an array in each of those fields. FerretDB's metadata table lists the declared
// indexes, so this runs again after every createIndexes.
const lookupExpr = `_ferretdb_sjson->'$._id'`

// Table names never start with FerretDB's reserved "_ferretdb_" prefix, nor do FerretDB's index
// names (table name + "_" + index name), so this name cannot collide with either.
const indexPrefix = "_ferretdb_hush_id_"

// FerretDB's rule for database names (internal/backends/validation.go); each is a file in dir.
var databaseName = regexp.MustCompile("^[a-zA-Z0-9_-]{1,63}$")

// idIndexer gives every collection table of the databases in dir the lookup index.
type idIndexer struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	known map[string]map[string]bool // database -> collections whose table has the index
}

func newIDIndexer(dir string, log *slog.Logger) *idIndexer {
	return &idIndexer{dir: dir, log: log, known: map[string]map[string]bool{}}
}

// ensure indexes the database's tables unless coll is already known to be indexed. The caller holds
// the database's gate, so no other write (a drop, say) runs meanwhile.
func (x *idIndexer) ensure(db, coll string) {
	if !databaseName.MatchString(db) {
		return // FerretDB refused the command; and the name must not reach the file system
	}
	x.mu.Lock()
	done := x.known[db][coll]
	x.mu.Unlock()
	if done {
		return
	}
	colls, err := indexDatabase(filepath.Join(x.dir, db+".sqlite"))
	if err != nil {
		x.log.Error("hush-store: cannot index _id", "db", db, "err", err)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.known[db] == nil {
		x.known[db] = map[string]bool{}
	}
	for _, c := range colls {
		x.known[db][c] = true
	}
}

// forget is called after a drop or rename (a name may now belong to a new, unindexed table) and
// before createIndexes' ensure (a known table may have new declared indexes to twin).
func (x *idIndexer) forget(db string) {
	x.mu.Lock()
	delete(x.known, db)
	x.mu.Unlock()
}

// indexAll indexes every database in dir; run before FerretDB starts, for data written earlier.
func (x *idIndexer) indexAll() error {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := indexDatabase(f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// indexDatabase creates the lookup index on every collection table of one database file and
// returns the collection names. It opens the file only for the call: a database's file is deleted
// and recreated by dropDatabase, and a handle kept open would outlive it.
func indexDatabase(file string) ([]string, error) {
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // e.g. an update without upsert on a database that does not exist
	}
	q := url.Values{}
	q.Set("mode", "rw") // never create a file: FerretDB would take it for a database
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer db.Close()

	rows, err := db.Query(`SELECT name, table_name, settings FROM _ferretdb_collections`)
	if err != nil {
		return nil, err
	}
	var colls, tables []string
	var stmts [][]string
	for rows.Next() {
		var c, t, settings string
		if err := rows.Scan(&c, &t, &settings); err != nil {
			rows.Close()
			return nil, err
		}
		keys, err := declaredKeys(settings)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s: %w", t, err)
		}
		colls, tables = append(colls, c), append(tables, t)
		stmts = append(stmts, pushdown.IndexStatements(t, keys))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, t := range tables {
		lookup := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`, quote(indexPrefix+t), quote(t), lookupExpr)
		for _, stmt := range append([]string{lookup}, stmts[i]...) {
			if _, err := db.Exec(stmt); err != nil {
				return nil, fmt.Errorf("table %s: %w", t, err)
			}
		}
		if err := dropStaleIndexes(db, t, stmts[i]); err != nil {
			return nil, fmt.Errorf("table %s: %w", t, err)
		}
	}
	return colls, nil
}

// dropStaleIndexes drops the store's twin and array indexes of table t that stmts (its declared
// indexes' now) no longer create: those of an index since dropped, or a twin an earlier build
// defined otherwise (before twins held their keys' types). Each would cost every write for nothing.
func dropStaleIndexes(db *sql.DB, t string, stmts []string) error {
	want := map[string]bool{}
	for _, stmt := range stmts {
		want[strings.SplitN(stmt, `"`, 3)[1]] = true // CREATE INDEX IF NOT EXISTS "<name>" ON ...
	}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`, t)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		ours := strings.HasPrefix(name, "_ferretdb_hush_v_"+t+"_") || strings.HasPrefix(name, "_ferretdb_hush_a_"+t+"_")
		if ours && !want[name] {
			stale = append(stale, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range stale {
		if _, err := db.Exec(`DROP INDEX IF EXISTS ` + quote(name)); err != nil {
			return err
		}
	}
	return nil
}

// declaredKeys reads each declared index's key fields from a collection's FerretDB settings
// (metadata.Settings as JSON).
func declaredKeys(settings string) ([][]string, error) {
	var s struct {
		Indexes []struct {
			Key []struct {
				Field string `json:"field"`
			} `json:"key"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		return nil, err
	}
	keys := make([][]string, len(s.Indexes))
	for i, idx := range s.Indexes {
		for _, k := range idx.Key {
			keys[i] = append(keys[i], k.Field)
		}
	}
	return keys, nil
}

func quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}
