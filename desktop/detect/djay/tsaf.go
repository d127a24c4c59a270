package djay

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// TSAF is Algoriddim's own serialisation of the objects djay keeps in its
// YapDatabase (the data column of database2). A blob is "TSAF", 16 more
// header bytes, then one object: 0x2B 0x08 <class> 0x00 and its fields.
// Each field is written value first, then 0x08 <name> 0x00. Fixed-size
// numbers are aligned to their size counted from the start of the blob, so
// padding bytes may sit between a value's tag and its bytes.
//
// Nobody outside Algoriddim documents it; the grammar here is what other
// now-playing tools learned from real blobs. So the decoder is tolerant: it
// keeps every field read before something it does not understand and never
// fails on damage.

// Kind is the type of a decoded TSAF value.
type Kind uint8

// Kinds of TSAF values.
const (
	Null   Kind = iota
	String      // 0x08, 0x21
	Number      // 0x0A, 0x0C, 0x0F, 0x11, 0x12, 0x13, 0x14, 0x1A, 0x2D
	Date        // 0x30: CFAbsoluteTime seconds, see Value.Time
	Bool        // 0x0D false, 0x0E true
	Bytes       // 0x15
	Object      // 0x2B
	Array       // 0x0B
)

// Value is one decoded TSAF value.
type Value struct {
	Kind Kind
	Str  string  // String
	Num  float64 // Number, Date, Bool (0 or 1)
	Obj  *TSAFObject
	Arr  []Value
	Raw  []byte // Bytes
}

// cfEpoch is CFAbsoluteTime zero, 2001-01-01 UTC, in Unix seconds.
const cfEpoch = 978307200

// Time is a Date value as a time, to the microsecond (a float64 of
// seconds since 2001 holds no finer); zero for any other kind or a value no
// clock could show.
func (v Value) Time() time.Time {
	if v.Kind != Date || math.IsNaN(v.Num) || math.Abs(v.Num) > 1e10 {
		return time.Time{}
	}
	return time.UnixMicro(cfEpoch*1e6 + int64(math.Round(v.Num*1e6))).UTC()
}

// TSAFObject is one decoded object.
type TSAFObject struct {
	Class string
	// ID is a string written right after the class name with no field name
	// after it: the object's identity (the 32-hex titleID of an
	// ADCMediaItemTitleID).
	ID     string
	Fields map[string]Value // by field name; the first of a repeated name wins
	// Loose are values with no field name after them (an array of
	// locations written without a name).
	Loose []Value
}

// Str is the named field when it is a string.
func (o *TSAFObject) Str(name string) string {
	if o == nil {
		return ""
	}
	if v, ok := o.Fields[name]; ok && v.Kind == String {
		return v.Str
	}
	return ""
}

// Num is the named field when it is a number; ok is false otherwise.
func (o *TSAFObject) Num(name string) (n float64, ok bool) {
	if o == nil {
		return 0, false
	}
	v, ok := o.Fields[name]
	if !ok || v.Kind != Number || math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
		return 0, false
	}
	return v.Num, true
}

// Obj is the named field when it is an object.
func (o *TSAFObject) Obj(name string) *TSAFObject {
	if o == nil {
		return nil
	}
	if v, ok := o.Fields[name]; ok && v.Kind == Object {
		return v.Obj
	}
	return nil
}

const (
	tsafHeader = 20 // "TSAF" + version words + counts
	maxDepth   = 16 // nested objects/arrays; real blobs nest two deep
)

// ErrNotTSAF is returned for bytes that are not a TSAF blob at all.
var ErrNotTSAF = errors.New("not a TSAF blob")

// DecodeTSAF decodes the object in a TSAF blob. Damage after the class name
// is not an error: the object then holds the fields read before it.
func DecodeTSAF(blob []byte) (*TSAFObject, error) {
	if len(blob) < tsafHeader+1 || string(blob[:4]) != "TSAF" {
		return nil, ErrNotTSAF
	}
	if blob[tsafHeader] != 0x2B {
		return nil, ErrNotTSAF
	}
	d := &decoder{b: blob, pos: tsafHeader + 1}
	obj, ok := d.object(0)
	if !ok {
		return nil, ErrNotTSAF
	}
	return obj, nil
}

type decoder struct {
	b   []byte
	pos int
}

// object reads an object's class name and fields, after its 0x2B. A nested
// object ends at a 0x00 byte (the parent's name for it follows); the
// outermost ends at the end of the blob or at a 0x00 not followed by a
// field name (a lone 0x00 before a name there is a null value).
func (d *decoder) object(depth int) (*TSAFObject, bool) {
	if d.pos >= len(d.b) || d.b[d.pos] != 0x08 {
		return nil, false
	}
	d.pos++
	class, ok := d.cstring()
	if !ok {
		return nil, false
	}
	o := &TSAFObject{Class: class, Fields: map[string]Value{}}
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case 0x00:
			if depth == 0 && d.pos+1 < len(d.b) && d.b[d.pos+1] == 0x08 {
				d.pos++
				d.name(o, Value{Kind: Null})
				continue
			}
			d.pos++
			return o, true
		case 0x05: // reference / field-count marker: one byte follows
			d.pos += 2
			continue
		}
		tag := d.b[d.pos]
		d.pos++
		v, ok := d.value(tag, depth)
		if !ok {
			return o, true // damage or a tag we do not know: keep what we have
		}
		d.name(o, v)
	}
	return o, true
}

// name reads the field name after v, if there is one, and stores v.
func (d *decoder) name(o *TSAFObject, v Value) {
	if d.pos < len(d.b) && d.b[d.pos] == 0x08 {
		d.pos++
		key, ok := d.cstring()
		if !ok {
			return
		}
		if _, seen := o.Fields[key]; !seen {
			o.Fields[key] = v
		}
		return
	}
	if v.Kind == String && o.ID == "" && len(o.Fields) == 0 && len(o.Loose) == 0 {
		o.ID = v.Str
		return
	}
	o.Loose = append(o.Loose, v)
}

// value reads the value whose tag was just read.
func (d *decoder) value(tag byte, depth int) (Value, bool) {
	switch tag {
	case 0x08:
		s, ok := d.cstring()
		return Value{Kind: String, Str: s}, ok
	case 0x21: // a string wrapped with a sub-type byte and a trailing 0x00
		d.pos++
		s, ok := d.cstring()
		if ok && d.pos < len(d.b) && d.b[d.pos] == 0x00 {
			d.pos++
		}
		return Value{Kind: String, Str: s}, ok
	case 0x0A, 0x0C, 0x11, 0x1A, 0x12, 0x13, 0x14, 0x30:
		return d.number(tag)
	case 0x0F: // uint8, unaligned (macOS deckNumber)
		if d.pos >= len(d.b) {
			return Value{}, false
		}
		d.pos++
		return Value{Kind: Number, Num: float64(d.b[d.pos-1])}, true
	case 0x0D:
		return Value{Kind: Bool, Num: 0}, true
	case 0x0E:
		return Value{Kind: Bool, Num: 1}, true
	case 0x2D: // the number 1 with no bytes (macOS deckNumber 1)
		return Value{Kind: Number, Num: 1}, true
	case 0x2E: // not known yet (a key djay has not analysed)
		return Value{Kind: Null}, true
	case 0x15:
		b, ok := d.fixed(4)
		if !ok {
			return Value{}, false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(d.b)-d.pos) {
			return Value{}, false
		}
		raw := d.b[d.pos : d.pos+int(n)]
		d.pos += int(n)
		return Value{Kind: Bytes, Raw: raw}, true
	case 0x2B:
		if depth+1 >= maxDepth {
			return Value{}, false
		}
		o, ok := d.object(depth + 1)
		return Value{Kind: Object, Obj: o}, ok
	case 0x0B:
		return d.array(depth)
	}
	return Value{}, false
}

// number reads a fixed-size number whose tag was just read.
func (d *decoder) number(tag byte) (Value, bool) {
	size := map[byte]int{0x0A: 2, 0x0C: 4, 0x11: 4, 0x1A: 4, 0x13: 4, 0x12: 8, 0x14: 8, 0x30: 8}[tag]
	b, ok := d.fixed(size)
	if !ok {
		return Value{}, false
	}
	v := Value{Kind: Number}
	switch tag {
	case 0x0A:
		v.Num = float64(int16(binary.LittleEndian.Uint16(b)))
	case 0x0C:
		v.Num = float64(int32(binary.LittleEndian.Uint32(b)))
	case 0x11, 0x1A:
		v.Num = float64(binary.LittleEndian.Uint32(b))
	case 0x13: // float32, written by the macOS app
		v.Num = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case 0x12:
		v.Num = float64(binary.LittleEndian.Uint64(b))
	case 0x14:
		v.Num = math.Float64frombits(binary.LittleEndian.Uint64(b))
	case 0x30: // a date: CFAbsoluteTime
		v.Kind, v.Num = Date, math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return v, true
}

// array reads an array: an aligned int32 count, then that many tagged values.
func (d *decoder) array(depth int) (Value, bool) {
	if depth+1 >= maxDepth {
		return Value{}, false
	}
	b, ok := d.fixed(4)
	if !ok {
		return Value{}, false
	}
	n := int64(int32(binary.LittleEndian.Uint32(b)))
	// Every element takes at least its tag byte, so a count larger than the
	// bytes left is damage.
	if n < 0 || n > int64(len(d.b)-d.pos) {
		return Value{}, false
	}
	arr := Value{Kind: Array}
	for range n {
		if d.pos >= len(d.b) {
			return arr, false
		}
		tag := d.b[d.pos]
		d.pos++
		v, ok := d.value(tag, depth+1)
		if !ok {
			return arr, false
		}
		arr.Arr = append(arr.Arr, v)
	}
	return arr, true
}

// fixed skips the padding that aligns an n-byte value to n bytes from the
// start of the blob, and returns the value's bytes.
func (d *decoder) fixed(n int) ([]byte, bool) {
	if r := d.pos % n; r != 0 {
		d.pos += n - r
	}
	if d.pos > len(d.b)-n {
		d.pos = len(d.b)
		return nil, false
	}
	b := d.b[d.pos : d.pos+n]
	d.pos += n
	return b, true
}

// cstring reads a NUL-terminated string. A string cut off by the end of the
// blob is damage.
func (d *decoder) cstring() (string, bool) {
	for i := d.pos; i < len(d.b); i++ {
		if d.b[i] == 0 {
			s := string(d.b[d.pos:i])
			d.pos = i + 1
			return s, true
		}
	}
	d.pos = len(d.b)
	return "", false
}
