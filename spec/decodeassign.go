package spec

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The walker's JSON-able value is stored into the Go value directly, with
// encoding/json's rules for the values the walker makes (nil, string,
// int64, bool, []any, map[string]any). Before, it went through
// json.Marshal and sigs.k8s.io/yaml.UnmarshalStrict, which parsed that JSON
// again as YAML and decoded it with encoding/json; assign gives what that
// gave. What assign is not sure of (a value that path would change or
// refuse, a type with rules it does not copy) makes it answer errSlowPath,
// and decodeFile takes that path instead.

var errSlowPath = errors.New("decode through JSON")

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// structField is where a JSON name of a struct is stored.
type structField struct {
	index []int
	typ   reflect.Type
}

// structInfo is the fields of a struct type by JSON name, as jsonFields
// finds them, and whether assign may fill them (no two fields of one name,
// no unexported embedded struct that encoding/json would look into).
type structInfo struct {
	byName map[string]structField
	types  map[string]reflect.Type // what jsonFields returns
	ok     bool
}

var structInfos sync.Map // reflect.Type → *structInfo

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]structField{}, ok: true}
	si.collect(t, nil)
	si.types = jsonFields(t)
	structInfos.Store(t, si)
	return si
}

// collect adds t's fields below index, in jsonFields' order and naming.
func (si *structInfo) collect(t reflect.Type, index []int) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		at := append(index[:len(index):len(index)], f.Index...)
		switch {
		case f.Anonymous && !f.IsExported():
			si.ok = false // encoding/json would look into it
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "":
			if f.Type.Kind() != reflect.Struct {
				si.ok = false
				continue
			}
			si.collect(f.Type, at)
		default:
			if name == "" {
				name = f.Name
			} else if !validTag(name) {
				si.ok = false // encoding/json would use f.Name
			}
			if _, dup := si.byName[name]; dup {
				si.ok = false
			}
			si.byName[name] = structField{index: at, typ: f.Type}
		}
	}
}

// assign stores val, a value the walker made, into v, a settable zero
// value, as encoding/json would decode val's JSON into v.
func assign(val any, v reflect.Value) error {
	if val == nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
			return nil
		}
		if u, ok := unmarshaler(v); ok {
			return callUnmarshaler(u, nil)
		}
		return nil
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return assign(val, v.Elem())
	}
	if u, ok := unmarshaler(v); ok {
		return callUnmarshaler(u, val)
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		return errSlowPath
	}
	switch x := val.(type) {
	case string:
		if v.Kind() != reflect.String || !sameThroughJSON(x) {
			return errSlowPath
		}
		v.SetString(x)
	case int64:
		if v.Kind() != reflect.Int || v.OverflowInt(x) {
			return errSlowPath
		}
		v.SetInt(x)
	case bool:
		if v.Kind() != reflect.Bool {
			return errSlowPath
		}
		v.SetBool(x)
	case []any:
		if v.Kind() != reflect.Slice {
			return errSlowPath
		}
		s := reflect.MakeSlice(v.Type(), len(x), len(x))
		for i, e := range x {
			if err := assign(e, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
	case map[string]any:
		return assignObject(x, v)
	default:
		return errSlowPath
	}
	return nil
}

func assignObject(x map[string]any, v reflect.Value) error {
	switch v.Kind() {
	case reflect.Struct:
		si := infoOf(v.Type())
		if !si.ok {
			return errSlowPath
		}
		for k, e := range x {
			f, ok := si.byName[k]
			if !ok {
				return errSlowPath
			}
			if err := assign(e, v.FieldByIndex(f.index)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		t := v.Type()
		if t.Key().Kind() != reflect.String || reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) {
			return errSlowPath
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(x)))
		}
		for k, e := range x {
			// A long key is no simple key to the YAML parser that read
			// the JSON before.
			if len(k) > 128 || !sameThroughJSON(k) {
				return errSlowPath
			}
			elem := reflect.New(t.Elem()).Elem()
			if err := assign(e, elem); err != nil {
				return err
			}
			kv := reflect.New(t.Key()).Elem()
			kv.SetString(k)
			v.SetMapIndex(kv, elem)
		}
		return nil
	}
	return errSlowPath
}

// unmarshaler returns v's json.Unmarshaler, as encoding/json finds it for a
// settable non-pointer v.
func unmarshaler(v reflect.Value) (json.Unmarshaler, bool) {
	if v.Type().Implements(jsonUnmarshalerType) {
		u, ok := v.Interface().(json.Unmarshaler)
		return u, ok
	}
	if v.CanAddr() && reflect.PointerTo(v.Type()).Implements(jsonUnmarshalerType) {
		u, ok := v.Addr().Interface().(json.Unmarshaler)
		return u, ok
	}
	return nil, false
}

// callUnmarshaler hands val's JSON to u. Its error is worded by the path
// through JSON, which decodeFile then takes.
func callUnmarshaler(u json.Unmarshaler, val any) error {
	b := []byte("null")
	switch x := val.(type) {
	case nil:
	case string:
		if !sameThroughJSON(x) {
			return errSlowPath
		}
		var err error
		if b, err = json.Marshal(x); err != nil {
			return errSlowPath
		}
	default:
		return errSlowPath
	}
	if u.UnmarshalJSON(b) != nil {
		return errSlowPath
	}
	return nil
}

// sameThroughJSON reports whether s comes out of json.Marshal and a YAML
// parse of its output unchanged: valid UTF-8 without the characters
// encoding/json leaves as they are and YAML 1.1 refuses (DEL, C1 controls,
// U+FFFE, U+FFFF) or reads as a line break (U+0085), nor a byte order mark.
func sameThroughJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x7f {
			return sameThroughJSONSlow(s[i:])
		}
	}
	return true
}

func sameThroughJSONSlow(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r >= 0x7f && r <= 0x9f, r == 0xfeff, r == 0xfffe, r == 0xffff:
			return false
		}
	}
	return true
}

// validTag is encoding/json's test of a field name in a tag.
func validTag(s string) bool {
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
