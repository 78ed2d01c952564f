package config

import (
	"cmp"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// keyError is a bad key or value of the file, named by its dotted key (such
// as pools.resize.timeout) and its line.
type keyError struct {
	line int
	key  string
	msg  string
}

func (e *keyError) Error() string { return fmt.Sprintf("line %d: %s: %s", e.line, e.key, e.msg) }

var durationType = reflect.TypeFor[time.Duration]()

// checkKeys walks a decoded YAML document against the type it is decoded
// into, t, and returns the first unknown key (with the nearest valid one)
// or value of the wrong kind, named by its key rather than by a Go type.
func checkKeys(doc *yaml.Node, t reflect.Type) error {
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		doc = doc.Content[0]
	}
	w := walker{inside: make(map[*yaml.Node]bool)}
	return w.walk(doc, t, "")
}

// walker holds the nodes being walked, so that an alias to a node that
// holds it is an error instead of an endless walk.
type walker struct{ inside map[*yaml.Node]bool }

func (w walker) walk(n *yaml.Node, t reflect.Type, key string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if w.inside[n] {
		return &keyError{n.Line, cmp.Or(key, "the file"), "refers to itself through an alias"}
	}
	w.inside[n] = true
	defer delete(w.inside, n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct:
		fields := structKeys(t)
		if n.Kind != yaml.MappingNode {
			if key == "" {
				return &keyError{n.Line, "the file", "is not a mapping of keys"}
			}
			return &keyError{n.Line, key, fmt.Sprintf("%s is not a mapping (keys %s)", describe(n), strings.Join(sortedKeys(fields), ", "))}
		}
		return w.pairs(n, t, key, func(k, v *yaml.Node) error {
			ft, ok := fields[k.Value]
			if !ok {
				return &keyError{k.Line, join(key, k.Value), unknownKey(k.Value, fields)}
			}
			return w.walk(v, ft, join(key, k.Value))
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &keyError{n.Line, key, describe(n) + " is not a mapping of queue names"}
		}
		return w.pairs(n, t, key, func(k, v *yaml.Node) error {
			return w.walk(v, t.Elem(), join(key, k.Value))
		})
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil || (isInt(t) && n.Tag == "!!float") {
		return &keyError{n.Line, key, wrongKind(n, t)}
	}
	return nil
}

// pairs calls each for every key and value of mapping n, of type t,
// walking the mappings that merge keys (<<) merge into it.
func (w walker) pairs(n *yaml.Node, t reflect.Type, key string, each func(k, v *yaml.Node) error) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" || k.Value == "<<" {
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				if err := w.walk(m, t, key); err != nil {
					return err
				}
			}
			continue
		}
		if err := each(k, v); err != nil {
			return err
		}
	}
	return nil
}

// structKeys maps the YAML keys of struct t, inlined structs included, to
// their types.
func structKeys(t reflect.Type) map[string]reflect.Type {
	keys := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, ft := range structKeys(f.Type) {
				keys[k] = ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// unknownKey says that key is not one of valid, offering the nearest.
func unknownKey(key string, valid map[string]reflect.Type) string {
	if near := nearest(key, sortedKeys(valid)); near != "" {
		return "unknown key; did you mean " + near + "?"
	}
	return "unknown key; valid keys are " + strings.Join(sortedKeys(valid), ", ")
}

// nearest returns a candidate that key abbreviates or spells out, else the
// one closest by edit distance, ignoring case, '_' and '-', or "" when none
// is close enough to be a typo.
func nearest(key string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		k, n := norm(key), norm(c)
		if len(k) >= 3 && len(n) >= 3 && (strings.HasPrefix(k, n) || strings.HasPrefix(n, k)) {
			return c // max for maximum, concurrency for concur
		}
		d := editDistance(k, n)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(1, min(3, len(key)/3)) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return t != durationType
	}
	return false
}

// describe shows a node in an error: a scalar's value, or what it is. A
// scalar of the wrong kind cannot be a secret, as secrets are strings and
// any scalar is a string.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Value == "" || strings.ContainsAny(n.Value, " \t\n") {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// wrongKind says what n should have been to decode into t.
func wrongKind(n *yaml.Node, t reflect.Type) string {
	v := describe(n)
	switch {
	case t == durationType:
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil && n.Kind == yaml.ScalarNode {
			return fmt.Sprintf("%s is not a duration; write %ss", v, n.Value)
		}
		return v + " is not a duration (write it like 30s, 1m30s or 500ms)"
	case isInt(t):
		return v + " is not a whole number"
	case t.Kind() == reflect.Bool:
		return v + " is not true or false"
	case t.Kind() == reflect.String:
		return v + " is not a string"
	}
	return fmt.Sprintf("%s is not a %s", v, t.Kind())
}
