package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"hush/store/pushdown"
)

// A count the store makes in SQL (pushdown.Counted: each condition and its value's type in the
// document's schema) is answered from the twin index alone: SQLite reads no document to count, so
// a count's cost follows the index entries it counts, not the documents (the conversation list's
// total over every membership of a user).
func TestCountReadsOnlyTheTwinIndex(t *testing.T) {
	db := memTable(t)
	for i := 0; i < 200; i++ {
		doc := fmt.Sprintf(`{"$s":{"p":{"_id":{"t":"string"},"u":{"t":"objectId"},"a":{"t":"bool"},"d":{"t":"date"}}},`+
			`"_id":"m%d","u":"%024d","a":false,"d":%d,"pad":"%s"}`, i, i%2, i, strings.Repeat("x", 300))
		if _, err := db.Exec(`INSERT INTO m (_ferretdb_sjson) VALUES (?)`, doc); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range pushdown.IndexStatements("m", [][]string{{"u", "a", "d", "_id"}}) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(stmt, err)
		}
	}
	conds := []pushdown.Cond{
		{Field: "u", Op: pushdown.Eq, Args: []any{fmt.Sprintf("%024d", 1)}},
		{Field: "a", Op: pushdown.Eq, Args: []any{false}},
	}
	count, args, _ := pushdown.Counted("m", conds, []pushdown.Kind{pushdown.KindObjectID, pushdown.KindBool})
	var n int
	if err := db.QueryRow(count, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Fatalf("counted %d, want 100", n)
	}
	rows, err := db.Query("EXPLAIN QUERY PLAN "+count, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH m USING COVERING INDEX _ferretdb_hush_v_m_") {
		t.Fatalf("the count reads documents, not only the index: %q", plan)
	}
}

// A twin an earlier build created without the types (or one of an index since dropped) is dropped
// when the store indexes the table again; the current ones stay.
func TestStaleTwinsAreDropped(t *testing.T) {
	db := memTable(t)
	old := `CREATE INDEX "_ferretdb_hush_v_m_000000000000" ON m (_ferretdb_sjson->>'$.u')`
	mine := `CREATE INDEX "other_index" ON m (_ferretdb_sjson->>'$.u')`
	stmts := pushdown.IndexStatements("m", [][]string{{"u", "a"}})
	for _, s := range append([]string{old, mine}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(s, err)
		}
	}
	if err := dropStaleIndexes(db, "m", stmts); err != nil {
		t.Fatal(err)
	}
	var names []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if len(names) != len(stmts)+1 || names[len(names)-1] != "other_index" {
		t.Fatalf("indexes left: %q", names)
	}
	for _, n := range names {
		if n == "_ferretdb_hush_v_m_000000000000" {
			t.Fatalf("the stale twin is still there: %q", names)
		}
	}
}

// memTable opens an in-memory SQLite database with one table laid out as FerretDB's (m).
func memTable(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE m (_ferretdb_record_id INTEGER PRIMARY KEY, _ferretdb_sjson TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db
}
