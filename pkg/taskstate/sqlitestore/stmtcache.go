package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
)

// wstmt returns the writer's prepared statement for query.
func (s *Store) wstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return prepared(ctx, s.w, &s.wstmts, query)
}

// rstmt returns the readers' prepared statement for query.
func (s *Store) rstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return prepared(ctx, s.r, &s.rstmts, query)
}

// prepared returns the statement for query from cache, preparing it on db
// the first time; of two goroutines that race, one's statement is kept.
func prepared(ctx context.Context, db *sql.DB, cache *sync.Map, query string) (*sql.Stmt, error) {
	if st, ok := cache.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// txStmt returns the writer statement for query, prepared by Open, bound
// to tx. (Preparing here would wait for the connection tx holds.)
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := s.wstmts.Load(query)
	if !ok {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
}
