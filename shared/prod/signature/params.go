package signature

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// defaultLabel is the label Upvest gives its signature.
const defaultLabel = "sig1"

// signatureInput is one parsed member of the signature-input header.
type signatureInput struct {
	label      string
	components []string
	keyID      string
	created    int64
	expires    int64 // 0 when absent
	hasExpires bool
	nonce      string
	alg        string
	// params is the member's value exactly as sent: the "@signature-params" line.
	params string
}

// componentName: a derived component ("@method") or a lower-case header name,
// optionally with Upvest's ":<key>" suffix for dictionary and inner-list parts.
// The key may be empty: Upvest's signer reads "==" as a dictionary with the
// key "" (found by FuzzHeaderComponents).
var componentName = regexp.MustCompile(`^(@[a-z][a-z-]*|[a-z0-9_.*-]+(:[a-z0-9_.*-]*)?)$`)

var labelPattern = regexp.MustCompile(`^[a-z*][a-z0-9_.*-]*$`)

// chooseInput parses the signature-input header STRICTLY and picks the member
// to verify: the only one, or "sig1" when there are several.
func chooseInput(header string) (signatureInput, error) {
	members, err := splitMembers(header)
	if err != nil {
		return signatureInput{}, fmt.Errorf("%w: signature-input: %v", ErrMalformed, err)
	}
	label := defaultLabel
	if len(members) == 1 {
		for only := range members {
			label = only
		}
	}
	raw, ok := members[label]
	if !ok {
		return signatureInput{}, fmt.Errorf("%w: signature-input has several signatures and none labelled %q", ErrMalformed, defaultLabel)
	}
	in, err := parseInputValue(raw)
	if err != nil {
		return signatureInput{}, fmt.Errorf("%w: signature-input %s: %v", ErrMalformed, label, err)
	}
	in.label = label
	return in, nil
}

// signatureBytes parses the signature header and returns the DER signature
// carried under label.
func signatureBytes(header, label string) ([]byte, error) {
	members, err := splitMembers(header)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	raw, ok := members[label]
	if !ok {
		return nil, fmt.Errorf("%w: signature header has no %q (the label signature-input uses)", ErrMalformed, label)
	}
	sig, ok := byteSequence(raw)
	if !ok || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature %s is not a byte sequence :<base64>:", ErrMalformed, label)
	}
	return sig, nil
}

// byteSequence decodes a structured-field byte sequence ":<base64>:".
func byteSequence(raw string) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != ':' || raw[len(raw)-1] != ':' {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(raw[1 : len(raw)-1])
	return b, err == nil
}

// splitMembers splits a structured-field dictionary "a=<v>, b=<v>" into raw
// member values. Commas inside quotes, parentheses or byte sequences do not
// split. Duplicate labels are rejected.
func splitMembers(header string) (map[string]string, error) {
	members := map[string]string{}
	s := strings.TrimSpace(header)
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("expected <label>=<value> at %q", s)
		}
		label := s[:eq]
		if !labelPattern.MatchString(label) {
			return nil, fmt.Errorf("bad label %q", label)
		}
		if _, dup := members[label]; dup {
			return nil, fmt.Errorf("label %q appears twice", label)
		}
		end, err := memberEnd(s, eq+1)
		if err != nil {
			return nil, err
		}
		members[label] = s[eq+1 : end]
		s = s[end:]
		if s == "" {
			break
		}
		// s starts with the separating comma.
		s = strings.TrimLeft(s[1:], " \t")
		if s == "" {
			return nil, fmt.Errorf("trailing comma")
		}
	}
	return members, nil
}

// memberEnd returns the index of the comma that ends the member value
// starting at i, or len(s).
func memberEnd(s string, i int) (int, error) {
	inQuotes, inBytes, depth := false, false, 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuotes:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuotes = false
			}
		case inBytes:
			if c == ':' {
				inBytes = false
			}
		case c == '"':
			inQuotes = true
		case c == ':' && i > 0 && s[i-1] == '=':
			// A byte sequence starts a value; a ":" elsewhere is part of a token.
			inBytes = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("unbalanced parenthesis")
			}
		case c == ',' && depth == 0:
			end := i
			for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
				end--
			}
			return end, nil
		}
	}
	if inQuotes || inBytes || depth != 0 {
		return 0, fmt.Errorf("unterminated value")
	}
	return len(s), nil
}

// parseInputValue parses `("a" "b");keyid="k";created=1;nonce="n";expires=2`.
func parseInputValue(raw string) (signatureInput, error) {
	in := signatureInput{params: raw}
	if raw == "" || raw[0] != '(' {
		return in, fmt.Errorf("component list must start with (")
	}
	i := 1
	seen := map[string]bool{}
	for {
		if i >= len(raw) {
			return in, fmt.Errorf("component list not closed")
		}
		if raw[i] == ')' {
			i++
			break
		}
		if len(in.components) > 0 {
			if raw[i] != ' ' {
				return in, fmt.Errorf("components must be separated by a space")
			}
			i++
		}
		name, n, err := parseString(raw[i:])
		if err != nil {
			return in, fmt.Errorf("component %d: %w", len(in.components)+1, err)
		}
		i += n
		if !componentName.MatchString(name) {
			return in, fmt.Errorf("bad component name %q", name)
		}
		if seen[name] {
			return in, fmt.Errorf("component %q listed twice", name)
		}
		seen[name] = true
		in.components = append(in.components, name)
	}

	params := map[string]bool{}
	for i < len(raw) {
		if raw[i] != ';' {
			return in, fmt.Errorf("expected ; at %q", raw[i:])
		}
		i++
		key := parameterKey(raw[i:])
		if key == "" {
			return in, fmt.Errorf("bad parameter name at %q", raw[i:])
		}
		i += len(key)
		if params[key] {
			return in, fmt.Errorf("parameter %q given twice", key)
		}
		params[key] = true
		if i >= len(raw) || raw[i] != '=' {
			// A bare key is a boolean true; none of the parameters we read is one.
			if knownParameter(key) {
				return in, fmt.Errorf("parameter %q without value", key)
			}
			continue
		}
		i++
		var n int
		var err error
		switch key {
		case "keyid":
			in.keyID, n, err = parseString(raw[i:])
		case "nonce":
			in.nonce, n, err = parseString(raw[i:])
		case "alg":
			in.alg, n, err = parseString(raw[i:])
		case "created":
			in.created, n, err = parseInteger(raw[i:])
		case "expires":
			in.expires, n, err = parseInteger(raw[i:])
			in.hasExpires = true
		default:
			// Another parameter (a newer signer's "tag", say) is accepted
			// unread: @signature-params covers it as sent.
			n, err = bareItemLength(raw[i:])
		}
		if err != nil {
			return in, fmt.Errorf("parameter %s: %w", key, err)
		}
		i += n
	}
	switch {
	case in.keyID == "":
		return in, fmt.Errorf("keyid is missing")
	case !params["created"]:
		return in, fmt.Errorf("created is missing")
	case in.hasExpires && in.expires < in.created:
		return in, fmt.Errorf("expires %d is before created %d", in.expires, in.created)
	case params["alg"] && !strings.HasPrefix(in.alg, "ecdsa"):
		return in, fmt.Errorf("alg %q is not ECDSA", in.alg)
	}
	return in, nil
}

// parseString reads a structured-field string at the start of s and returns
// its unescaped value and the number of bytes it took.
func parseString(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, fmt.Errorf("expected a quoted string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\':
			i++
			if i >= len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", 0, fmt.Errorf("bad escape in string")
			}
			b.WriteByte(s[i])
		case c < 0x20 || c > 0x7e:
			return "", 0, fmt.Errorf("bad character in string")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("string not closed")
}

// parseInteger reads a non-negative decimal integer (at most 15 digits, as
// structured fields allow) at the start of s.
func parseInteger(s string) (int64, int, error) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 15 {
		return 0, 0, fmt.Errorf("not an integer")
	}
	v, err := strconv.ParseInt(s[:n], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("not an integer: %w", err)
	}
	return v, n, nil
}

func knownParameter(key string) bool {
	switch key {
	case "keyid", "nonce", "alg", "created", "expires":
		return true
	}
	return false
}

// parameterKey returns the structured-field key at the start of s:
// lcalpha or "*", then lcalpha, digits, "_", "-", ".", "*".
func parameterKey(s string) string {
	if s == "" || !(s[0] == '*' || ('a' <= s[0] && s[0] <= 'z')) {
		return ""
	}
	n := 1
	for n < len(s) && isKeyChar(s[n]) {
		n++
	}
	return s[:n]
}

// bareItemLength returns the length of the structured-field bare item at the
// start of s (RFC 8941: string, integer or decimal, token, byte sequence,
// boolean), so that a parameter we do not read can be stepped over exactly.
func bareItemLength(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing value")
	}
	switch c := s[0]; {
	case c == '"':
		_, n, err := parseString(s)
		return n, err
	case c == '-' || ('0' <= c && c <= '9'):
		return numberLength(s)
	case c == '*' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
		n := 1
		for n < len(s) && isTokenChar(s[n]) {
			n++
		}
		return n, nil
	case c == ':':
		end := strings.IndexByte(s[1:], ':')
		if end < 0 {
			return 0, fmt.Errorf("byte sequence not closed")
		}
		if _, err := base64.StdEncoding.DecodeString(s[1 : 1+end]); err != nil {
			return 0, fmt.Errorf("byte sequence is not base64")
		}
		return end + 2, nil
	case c == '?':
		if len(s) < 2 || (s[1] != '0' && s[1] != '1') {
			return 0, fmt.Errorf("bad boolean")
		}
		return 2, nil
	}
	return 0, fmt.Errorf("not a structured-field value")
}

// numberLength: an integer of at most 15 digits or a decimal of at most 12
// integer and 3 fractional digits, optionally negative.
func numberLength(s string) (int, error) {
	i := 0
	if s[0] == '-' {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	whole := i - start
	if whole == 0 || whole > 15 {
		return 0, fmt.Errorf("not a number")
	}
	if i == len(s) || s[i] != '.' {
		return i, nil
	}
	i++
	fracStart := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if whole > 12 || i == fracStart || i-fracStart > 3 {
		return 0, fmt.Errorf("not a decimal")
	}
	return i, nil
}

// isTokenChar: tchar, ":" and "/" (RFC 8941 sf-token).
func isTokenChar(c byte) bool {
	if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}
