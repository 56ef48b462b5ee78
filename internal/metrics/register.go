package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registrar registers collectors on reg and remembers the ones it added, so
// a constructor that fails half-way can take them back. A nil reg registers
// nothing (as promauto.With(nil) does).
type registrar struct {
	reg   prometheus.Registerer
	added []prometheus.Collector
}

// register registers c, or returns the identical collector already
// registered: several Workers (or a Worker and a dispatcher's Store) in one
// process share one set of collectors, each adding its own label values.
func register[C prometheus.Collector](r *registrar, name string, c C) (C, error) {
	if r.reg == nil {
		return c, nil
	}
	if err := r.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("metrics: register %s: %w", name, err)
	}
	r.added = append(r.added, c)
	return c, nil
}

// rollback unregisters what this registrar added.
func (r *registrar) rollback() {
	for _, c := range r.added {
		r.reg.Unregister(c)
	}
	r.added = nil
}
