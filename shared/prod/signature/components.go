package signature

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Derived components Upvest's signers cover.
const (
	componentMethod = "@method"
	componentPath   = "@path"
	componentQuery  = "@query"
	componentParams = "@signature-params"
)

// component is one line of the signature base.
type component struct {
	name, value string
}

// signatureBase is the text that is signed: one "<name>: <value>" line per
// covered component, then the "@signature-params" line; joined with "\n", no
// trailing newline. Draft 06 leaves names unquoted (an Upvest quirk); draft 15
// quotes them ("@method": POST). A base of one draft can never read as a base
// of the other: its first and last lines start with a quote or do not.
func signatureBase(draft Draft, components []component, params string) []byte {
	var b strings.Builder
	writeName := func(name string) {
		if draft == Draft15 {
			b.WriteByte('"')
			b.WriteString(name)
			b.WriteByte('"')
		} else {
			b.WriteString(name)
		}
		b.WriteString(": ")
	}
	for _, c := range components {
		writeName(c.name)
		b.WriteString(c.value)
		b.WriteByte('\n')
	}
	writeName(componentParams)
	b.WriteString(params)
	return []byte(b.String())
}

// headerComponents rebuilds the components Upvest's v6 signer derives from one
// header. It applies the signer's structured-field rules to the trimmed values
// joined with ", ":
//   - a plain value is cut at its first ", " ("text/html, application/json"
//     gives "text/html");
//   - a list (first token followed by ",", or a leading quote) keeps its items
//     joined with ", ";
//   - a dictionary ("k=v, ...") gives one component "<name>:<k>" per member;
//   - an inner list ("(a, b)") gives "<name>:0" = "()", "<name>:1" = "(a)",
//     "<name>:2" = "(a, b)".
//
// It fails where Upvest's signer fails (it would not have signed such a header).
// Dictionary members are returned in key order; Upvest's order is random, but
// the order that counts is the one signature-input lists.
func headerComponents(name string, values []string) ([]component, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return nil, errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isKeyChar(name[i]) {
			return nil, fmt.Errorf("header name %q has a character Upvest's signer rejects", name)
		}
	}
	value := joinTrimmed(values)
	if value == "" {
		return []component{{name, ""}}, nil
	}
	switch kindOf(value) {
	case kindItem:
		items, err := splitList(value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		first := ""
		if len(items) > 0 {
			first = items[0]
		}
		return []component{{name, first}}, nil
	case kindList:
		items, err := splitList(value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		return []component{{name, strings.Join(items, ", ")}}, nil
	case kindInnerList:
		inner, err := innerListContent(value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		items, err := splitList(inner)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		out := []component{{name + ":0", "()"}}
		for i := range items {
			out = append(out, component{fmt.Sprintf("%s:%d", name, i+1), "(" + strings.Join(items[:i+1], ", ") + ")"})
		}
		return out, nil
	default:
		members, err := splitDictionary(value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]component, 0, len(keys))
		for _, k := range keys {
			out = append(out, component{name + ":" + k, members[k]})
		}
		return out, nil
	}
}

type valueKind int

const (
	kindItem valueKind = iota
	kindList
	kindInnerList
	kindDictionary
)

// kindOf classifies a header value the way Upvest's signer does: by its first
// character, then by the first character after it that is "=", "," or not a
// key character.
func kindOf(v string) valueKind {
	switch v[0] {
	case '(':
		return kindInnerList
	case '"':
		return kindList
	}
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] == '=':
			return kindDictionary
		case v[i] == ',':
			return kindList
		case !isKeyChar(v[i]):
			return kindItem
		}
	}
	return kindItem
}

// isKeyChar: lower-case letters, digits and "_-.*".
func isKeyChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '*' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}

// isValueChar: what an unquoted value may hold in Upvest's parser.
func isValueChar(c byte) bool { return c >= 0x20 && c <= 0x7f }

// itemEnds reports whether an item ends at i: a comma followed by a space.
func itemEnds(s string, i int) bool { return i+1 < len(s) && s[i] == ',' && s[i+1] == ' ' }

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

var (
	errUnbalancedQuotes = errors.New("unbalanced quotes")
	errBadValueChar     = errors.New("character not allowed in a value")
	errBadKey           = errors.New("bad dictionary key")
)

// splitList splits at ", " outside quotes, as Upvest's parser does, including
// its quirk of skipping the character right after a closing quote when that
// quote does not end the item.
func splitList(s string) ([]string, error) {
	var items []string
	var cur []byte
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quoted {
			cur = append(cur, c)
			switch c {
			case '"':
				quoted = false
				items = append(items, string(cur))
				cur = cur[:0]
				i++ // the quirk: one character after the quote is dropped...
				if itemEnds(s, i) {
					i++ // ...or, at ", ", both separator characters
				}
			case '\\':
				i++
				if i >= len(s) {
					return nil, errUnbalancedQuotes
				}
				cur = append(cur, s[i])
			}
			continue
		}
		switch {
		case c == '"':
			quoted = true
			cur = append(cur, c)
		case itemEnds(s, i):
			items = append(items, string(cur))
			cur = cur[:0]
			i = skipSpaces(s, i+1) - 1
		case !isValueChar(c):
			return nil, errBadValueChar
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		if quoted {
			return nil, errUnbalancedQuotes
		}
		items = append(items, string(cur))
	}
	return items, nil
}

// innerListContent returns what lies between a leading "(" and its ")".
func innerListContent(s string) (string, error) {
	var cur []byte
	quoted := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		if quoted {
			switch c {
			case '"':
				quoted = false
			case '\\':
				cur = append(cur, c)
				i++
				if i >= len(s) {
					return "", errUnbalancedQuotes
				}
				c = s[i]
			}
		} else {
			switch c {
			case '"':
				quoted = true
			case ')':
				return string(cur), nil
			}
		}
		cur = append(cur, c)
	}
	return "", errors.New("inner list without closing parenthesis")
}

// splitDictionary splits "k=v, k2=(a b), k3=\"q\"" into members. Values keep
// their quotes and parentheses; a repeated key keeps its last value.
func splitDictionary(s string) (map[string]string, error) {
	members := map[string]string{}
	for i := 0; i < len(s); {
		eq := i
		for eq < len(s) && isKeyChar(s[eq]) {
			eq++
		}
		if eq == len(s) || s[eq] != '=' {
			return nil, fmt.Errorf("%w at %q", errBadKey, s[i:])
		}
		key := s[i:eq]
		i = eq + 1
		if i >= len(s) {
			return nil, fmt.Errorf("dictionary key %q has no value", key)
		}
		var value string
		switch s[i] {
		case '"':
			end := i + 1
			for ; end < len(s) && s[end] != '"'; end++ {
				if s[end] == '\\' {
					end++
				}
			}
			if end >= len(s) {
				return nil, errUnbalancedQuotes
			}
			value = s[i : end+1]
		case '(':
			inner, err := innerListContent(s[i:])
			if err != nil {
				return nil, err
			}
			value = "(" + inner + ")"
		default:
			end := i
			for ; end < len(s) && !itemEnds(s, end); end++ {
				if !isValueChar(s[end]) {
					return nil, errBadValueChar
				}
			}
			value = s[i:end]
		}
		members[key] = value
		i += len(value)
		if itemEnds(s, i) {
			i = skipSpaces(s, i+1)
		} else {
			i++
		}
	}
	return members, nil
}
