package ring

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
)

// typeDesc is what Init and Open know about an element type.
type typeDesc struct {
	name        string
	size        uintptr
	align       uintptr
	fingerprint uint64
}

// TypeInfo describes an element type as the ring header records it.
type TypeInfo struct {
	Name        string  // Go's name for the type, for messages only
	Size        uintptr // bytes per element
	Align       uintptr // alignment in bytes
	Fingerprint uint64  // hash of the layout (see describe)
}

// Describe checks that T may live in a ring and returns what the header
// records of it. It fails with ErrBadType like Init.
func Describe[T any]() (TypeInfo, error) {
	d, err := describe[T]()
	if err != nil {
		return TypeInfo{}, fmt.Errorf("ring: %w", err)
	}
	return TypeInfo{Name: d.name, Size: d.size, Align: d.align, Fingerprint: d.fingerprint}, nil
}

// describe checks that T can live in shared memory (no pointers of any
// kind anywhere inside, non-zero size) and computes its layout fingerprint:
// an FNV-1a hash over kinds, sizes, alignments, array lengths and field
// names and offsets, walked depth first. Type names are left out on purpose,
// so two programs that declare the same struct in different packages agree;
// a field renamed, moved or resized changes the fingerprint.
func describe[T any]() (typeDesc, error) {
	t := reflect.TypeFor[T]()
	d := typeDesc{name: t.String(), size: t.Size(), align: uintptr(t.Align())}
	if d.size == 0 {
		return d, fmt.Errorf("%w: %s has size zero", ErrBadType, d.name)
	}
	if d.align > 128 {
		return d, fmt.Errorf("%w: %s is aligned to %d bytes (at most 128)", ErrBadType, d.name, d.align)
	}
	h := fnv.New64a()
	var buf []byte
	if err := walkType(t, "", func(s string) { buf = append(buf, s...); buf = append(buf, 0) }); err != nil {
		return d, fmt.Errorf("%w: %s holds %v; memory shared with another process can hold no pointers", ErrBadType, d.name, err)
	}
	h.Write(buf)
	d.fingerprint = h.Sum64()
	return d, nil
}

func walkType(t reflect.Type, path string, emit func(string)) error {
	emit(t.Kind().String())
	emit(strconv.FormatUint(uint64(t.Size()), 10))
	emit(strconv.Itoa(t.Align()))
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		emit(strconv.Itoa(t.Len()))
		return walkType(t.Elem(), path+"[]", emit)
	case reflect.Struct:
		emit(strconv.Itoa(t.NumField()))
		for i := range t.NumField() {
			f := t.Field(i)
			emit(f.Name)
			emit(strconv.FormatUint(uint64(f.Offset), 10))
			if err := walkType(f.Type, path+"."+f.Name, emit); err != nil {
				return err
			}
		}
		return nil
	default:
		if path == "" {
			return fmt.Errorf("a %s", t.Kind())
		}
		return fmt.Errorf("a %s at %s", t.Kind(), path)
	}
}
