package route

import "sync/atomic"

// Router holds the current Table and lets it be replaced atomically.
// It is safe for concurrent use; the zero value matches nothing.
type Router struct {
	t atomic.Pointer[Table]
}

// Store replaces the table; requests already being matched finish on the old one.
func (r *Router) Store(t *Table) { r.t.Store(t) }

// Match matches req against the current table.
func (r *Router) Match(req Request) (string, bool) { return r.t.Load().Match(req) }
