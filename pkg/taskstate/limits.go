package taskstate

import (
	"encoding"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/taskfleet/taskfleet/internal/gobcodec"
)

// DefaultMaxDepth is the default nesting limit of a def or result (see
// Codec.MaxDepth): 1,000 levels of maps, slices, arrays and structs.
const DefaultMaxDepth = gobcodec.DefaultMaxDepth

var (
	// ErrPayloadTooDeep: a def or result is nested deeper than the codec's
	// MaxDepth. Encoding refuses it before gob sees it; a stored payload
	// that breaks the limit does not decode (with ErrDecode too).
	ErrPayloadTooDeep = gobcodec.ErrTooDeep
	// ErrPayloadLength: a stored payload holds a length (of a map, slice,
	// string or message) over the bytes that remain; it does not decode
	// (with ErrDecode too).
	ErrPayloadLength = gobcodec.ErrTooLarge
	// ErrInvalidUTF8: a string or map key of a def is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("taskstate: not valid UTF-8")
)

// checkPayload walks v as gob would encode it and refuses it before any
// encoding when it is nested more than maxDepth levels (a map, slice, array,
// struct or pointer is a level; gob does not count pointers, so the limit is
// if anything stricter than the decoder's), or, with utf8 set, when a
// string or map key is not valid UTF-8. The error names the dotted path,
// under root when root is not empty.
// Values of types that cannot nest past the limit (no interface and no
// recursion inside, see shapeCache) are not walked, nor are containers of
// numbers, so it costs little next to gob.
func checkPayload(v any, root string, maxDepth int, utf8 bool, shapes *shapeCache) error {
	w := valueWalker{max: maxDepth, utf8: utf8, shapes: shapes}
	if w.max <= 0 {
		w.max = DefaultMaxDepth
	}
	err := w.walk(v, 0)
	if err == nil {
		return nil
	}
	path := []string{}
	if root != "" {
		path = append(path, root)
	}
	var pe *pathError
	if errors.As(err, &pe) {
		for i := len(pe.path) - 1; i >= 0; i-- { // collected on the way out
			path = append(path, pe.path[i])
		}
		err = pe.err
	}
	switch {
	case len(path) == 0:
		return err
	case len(path) > maxPathShown: // too deep: the start and the end say where
		n := len(path)
		path = append(path[:maxPathShown/2:maxPathShown/2], fmt.Sprintf("(%d more)", n-maxPathShown), strings.Join(path[n-maxPathShown/2:], "."))
	}
	return fmt.Errorf("%s: %w", strings.Join(path, "."), err)
}

// resultFailedError is CommitMany's error for a result that does not
// encode (too large, too deep, an unregistered type): the task was failed
// with it, not left to its lease.
type resultFailedError struct{ err error }

func (e *resultFailedError) Error() string { return e.err.Error() }
func (e *resultFailedError) Unwrap() error { return e.err }

// maxPathShown bounds the elements of a path an error names.
const maxPathShown = 16

type valueWalker struct {
	max    int
	utf8   bool
	shapes *shapeCache // nil: computed each time
}

// pathError carries the path of the value at fault, innermost first.
type pathError struct {
	path []string
	err  error
}

func (e *pathError) Error() string { return e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// under adds an outer path element to err.
func under(err error, elem string) error {
	pe, ok := err.(*pathError) //nolint:errorlint // only walk's own errors
	if !ok {
		pe = &pathError{err: err}
	}
	pe.path = append(pe.path, elem)
	return pe
}

// enter checks that a container at level depth may hold values a level
// deeper.
func (w *valueWalker) enter(depth int) error {
	if depth >= w.max {
		return fmt.Errorf("%w: more than %d levels of nesting", ErrPayloadTooDeep, w.max)
	}
	return nil
}

func (w *valueWalker) str(s string) error {
	if w.utf8 && !utf8.ValidString(s) {
		return fmt.Errorf("%w: string %q", ErrInvalidUTF8, s)
	}
	return nil
}

func (w *valueWalker) key(k string) error {
	if w.utf8 && !utf8.ValidString(k) {
		return fmt.Errorf("%w: map key %q", ErrInvalidUTF8, k)
	}
	return nil
}

// walk takes the shapes of YAML and JSON documents without reflection.
func (w *valueWalker) walk(v any, depth int) error {
	switch x := v.(type) {
	case nil, bool, int, int64, float64, time.Time:
		return nil
	case string:
		return w.str(x)
	case map[string]any:
		if err := w.enter(depth); err != nil {
			return err
		}
		for k, e := range x {
			if err := w.key(k); err != nil {
				return err
			}
			if err := w.walk(e, depth+1); err != nil {
				return under(err, k)
			}
		}
		return nil
	case []any:
		if err := w.enter(depth); err != nil {
			return err
		}
		for i, e := range x {
			if err := w.walk(e, depth+1); err != nil {
				return under(err, strconv.Itoa(i))
			}
		}
		return nil
	}
	return w.value(reflect.ValueOf(v), depth)
}

// opaque reports whether gob writes t with its own method, as bytes.
func opaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, i := range [...]reflect.Type{reflect.TypeFor[gob.GobEncoder](), reflect.TypeFor[encoding.BinaryMarshaler](),
		reflect.TypeFor[encoding.TextMarshaler]()} {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return false
}

// skip reports whether no value of t at level depth needs a look: it
// cannot nest past the limit and, when checking UTF-8, holds no string.
func (w *valueWalker) skip(t reflect.Type, depth int) bool {
	if w.utf8 {
		k := t.Kind()
		return k >= reflect.Bool && k <= reflect.Complex128 || opaque(t)
	}
	return w.fits(w.shapes.of(t).depth, depth)
}

// fits reports whether a value that nests d levels (-1: unbounded) fits
// at level depth.
func (w *valueWalker) fits(d, depth int) bool {
	return d >= 0 && depth+d <= w.max
}

func (w *valueWalker) value(v reflect.Value, depth int) error {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if w.skip(t, depth) {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return w.str(v.String())
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return w.walk(v.Elem().Interface(), depth)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if err := w.enter(depth); err != nil {
			return err
		}
		return w.value(v.Elem(), depth+1)
	case reflect.Struct:
		if err := w.enter(depth); err != nil {
			return err
		}
		for _, f := range w.shapes.of(t).fields {
			if !w.utf8 && w.fits(f.depth, depth+1) {
				continue
			}
			if err := w.value(v.Field(f.index), depth+1); err != nil {
				return under(err, f.name)
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if err := w.enter(depth); err != nil {
			return err
		}
		if w.skip(t.Elem(), depth+1) {
			return nil
		}
		for i := range v.Len() {
			if err := w.value(v.Index(i), depth+1); err != nil {
				return under(err, strconv.Itoa(i))
			}
		}
		return nil
	case reflect.Map:
		if err := w.enter(depth); err != nil {
			return err
		}
		kskip, eskip := w.skip(t.Key(), depth+1), w.skip(t.Elem(), depth+1)
		if kskip && eskip {
			return nil
		}
		for it := v.MapRange(); it.Next(); {
			k := it.Key()
			var err error
			switch {
			case kskip:
			case k.Kind() == reflect.String:
				err = w.key(k.String())
			default:
				err = w.value(k, depth+1)
			}
			if err == nil && !eskip {
				if err = w.value(it.Value(), depth+1); err != nil {
					return under(err, fmt.Sprint(k.Interface()))
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// shapeCache remembers the shape of types (see shape). It is bounded:
// past maxShapes types it stops remembering and computes.
type shapeCache struct {
	m sync.Map // reflect.Type → *shape
	n atomic.Int32
}

// shape is what the walk needs to know of a type.
type shape struct {
	// depth is the most levels of nesting a value of the type can have, or
	// -1 when that is unbounded: an interface or a recursive type inside.
	depth int
	// fields are a struct's exported fields, the ones gob sends.
	fields []shapeField
}

type shapeField struct {
	index int
	name  string
	depth int // as shape.depth, of the field's type
}

const maxShapes = 4096

func (c *shapeCache) of(t reflect.Type) *shape {
	if c != nil {
		if sh, ok := c.m.Load(t); ok {
			return sh.(*shape)
		}
	}
	sh := &shape{depth: typeDepth(t, map[reflect.Type]bool{})}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				sh.fields = append(sh.fields, shapeField{index: i, name: f.Name, depth: typeDepth(f.Type, map[reflect.Type]bool{})})
			}
		}
	}
	if c != nil && c.n.Add(1) <= maxShapes {
		c.m.Store(t, sh)
	}
	return sh
}

// typeDepth is depth without the cache; visiting holds the types on the
// way down, to find recursion.
func typeDepth(t reflect.Type, visiting map[reflect.Type]bool) int {
	k := t.Kind()
	switch {
	case k >= reflect.Bool && k <= reflect.Complex128, k == reflect.String:
		return 0
	case k == reflect.Interface:
		return -1
	case k != reflect.Pointer && k != reflect.Slice && k != reflect.Array && k != reflect.Map && k != reflect.Struct:
		return 0 // chans, funcs: gob refuses them
	case opaque(t):
		return 0
	case visiting[t]:
		return -1
	}
	visiting[t] = true
	defer delete(visiting, t)
	var inner []reflect.Type
	switch k {
	case reflect.Map:
		inner = []reflect.Type{t.Key(), t.Elem()}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				inner = append(inner, f.Type)
			}
		}
	default:
		inner = []reflect.Type{t.Elem()}
	}
	most := 0
	for _, e := range inner {
		d := typeDepth(e, visiting)
		if d < 0 {
			return -1
		}
		most = max(most, d)
	}
	return 1 + most
}
