package signature

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Options tune a Verifier. Zero values mean the defaults.
type Options struct {
	// ClockSkew is the clock difference tolerated on created and expires
	// (default 60s; Upvest does not document its own).
	ClockSkew time.Duration
	// MaxAge rejects a signature when now - created > MaxAge + ClockSkew,
	// whatever expires says (default 5 min).
	MaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AllowMissingDigest accepts a non-empty body without a digest header.
	// The zero value requires it (inverted so that the zero value is the
	// safe one). Never set it for
	// Upvest traffic: without a digest the signature does not cover the body.
	AllowMissingDigest bool
}

// Defaults for Options.
const (
	DefaultClockSkew = 60 * time.Second
	DefaultMaxAge    = 5 * time.Minute
)

// Verifier checks Upvest's signatures, draft 06 and draft 15, telling them
// apart per request. It is safe for concurrent use.
type Verifier struct {
	keys KeySource
	opts Options
}

// NewVerifier returns a Verifier that looks keys up in keys.
func NewVerifier(keys KeySource, opts Options) *Verifier {
	if opts.ClockSkew == 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{keys: keys, opts: opts}
}

// Verify returns nil when req carries a valid Upvest signature over its method,
// path, query, body and every header it covers. A failure wraps
// ErrUnauthenticated and a specific reason; any other error means the keys
// could not be loaded (answer 5xx so that Upvest retries).
func (v *Verifier) Verify(ctx context.Context, req Request) error {
	headers := indexHeaders(req.Header)
	inputHeader, ok := headers.joined(headerSignatureInput)
	if !ok {
		return fmt.Errorf("%w: signature-input", ErrMissingHeader)
	}
	sigHeader, ok := headers.joined(headerSignature)
	if !ok {
		return fmt.Errorf("%w: signature", ErrMissingHeader)
	}
	input, err := chooseInput(inputHeader)
	if err != nil {
		return err
	}
	sig, err := signatureBytes(sigHeader, input.label)
	if err != nil {
		return err
	}

	drafts := draftsToTry(headers, input.components)
	err = v.verifyAs(ctx, drafts[0], input, sig, req, headers)
	if len(drafts) > 1 && errors.Is(err, ErrBadSignature) {
		// Only the version header, which the signature does not cover, chose
		// the draft: the base of the other one may be what was signed.
		if v.verifyAs(ctx, drafts[1], input, sig, req, headers) == nil {
			return nil
		}
	}
	return err
}

// verifyAs verifies req as signed in draft: the draft's body digest, the
// coverage, the times, then the signature over the draft's base.
func (v *Verifier) verifyAs(ctx context.Context, draft Draft, input signatureInput, sig []byte, req Request, headers headerIndex) error {
	digestName := draft.bodyDigestHeader()
	digest, hasDigest := headers.joined(digestName)
	switch {
	case hasDigest && draft == Draft15:
		if err := checkContentDigest(digest, req.Body); err != nil {
			return err
		}
	case hasDigest:
		if err := checkDigest(digest, req.Body); err != nil {
			return err
		}
	case len(req.Body) > 0 && !v.opts.AllowMissingDigest:
		return fmt.Errorf("%w: %s (the body is not empty; %s)", ErrMissingHeader, digestName, draft)
	}
	// Past this point a non-empty body has a digest unless AllowMissingDigest.
	if err := checkCoverage(input.components, req, digestName, hasDigest); err != nil {
		return err
	}
	if err := v.checkTimes(input); err != nil {
		return err
	}

	lines, err := rebuild(draft, input.components, req, headers)
	if err != nil {
		return err
	}
	key, err := v.keys.Key(ctx, input.keyID)
	if errors.Is(err, ErrUnknownKey) {
		return fmt.Errorf("keyid %q: %w", input.keyID, err)
	}
	if err != nil {
		return fmt.Errorf("load verification key %q: %w", input.keyID, err)
	}
	if key == nil || key.Curve != elliptic.P521() {
		return fmt.Errorf("verification key %q is not a P-521 key", input.keyID)
	}
	hash := sha512.Sum512(signatureBase(draft, lines, input.params))
	if !ecdsa.VerifyASN1(key, hash[:], sig) {
		return fmt.Errorf("%w: keyid %q (%s)", ErrBadSignature, input.keyID, draft)
	}
	return nil
}

// checkDigest compares "SHA-256=<base64>" with the body, in constant time.
func checkDigest(header string, body []byte) error {
	alg, encoded, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(alg, "SHA-256") {
		return fmt.Errorf("%w: digest %q is not SHA-256=<base64>", ErrMalformed, header)
	}
	claimed, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || len(claimed) != sha256.Size {
		return fmt.Errorf("%w: digest %q is not SHA-256=<base64>", ErrMalformed, header)
	}
	actual := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(claimed, actual[:]) != 1 {
		return ErrDigestMismatch
	}
	return nil
}

// checkContentDigest checks an RFC 9530 content-digest, a dictionary such as
// "sha-512=:<base64>:", against the body, in constant time. Every sha-512 and
// sha-256 member must match and one must be there; other algorithms are
// ignored, as RFC 9530 asks.
func checkContentDigest(header string, body []byte) error {
	members, err := splitMembers(header)
	if err != nil {
		return fmt.Errorf("%w: content-digest: %v", ErrMalformed, err)
	}
	checked := 0
	for alg, value := range members {
		var actual []byte
		switch alg {
		case "sha-512":
			sum := sha512.Sum512(body)
			actual = sum[:]
		case "sha-256":
			sum := sha256.Sum256(body)
			actual = sum[:]
		default:
			continue
		}
		claimed, ok := byteSequence(value)
		if !ok || len(claimed) != len(actual) {
			return fmt.Errorf("%w: content-digest %s is not :<base64>: of %d bytes", ErrMalformed, alg, len(actual))
		}
		if subtle.ConstantTimeCompare(claimed, actual) != 1 {
			return ErrDigestMismatch
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("%w: content-digest has neither sha-512 nor sha-256", ErrMalformed)
	}
	return nil
}

// checkCoverage insists that the signature protects what the request is:
// method, path, body (through the draft's digest header) and query.
func checkCoverage(covered []string, req Request, digestName string, digest bool) error {
	required := []string{componentMethod, componentPath}
	if digest {
		required = append(required, digestName)
	}
	if req.RawQuery != "" {
		required = append(required, componentQuery)
	}
	for _, name := range required {
		if !slices.Contains(covered, name) {
			return fmt.Errorf("%w: %s", ErrComponentNotCovered, name)
		}
	}
	return nil
}

func (v *Verifier) checkTimes(in signatureInput) error {
	now := v.opts.Now()
	created := time.Unix(in.created, 0)
	skew := v.opts.ClockSkew
	if created.After(now.Add(skew)) {
		return fmt.Errorf("%w: created %d, now %d", ErrNotYetValid, in.created, now.Unix())
	}
	if in.hasExpires && now.After(time.Unix(in.expires, 0).Add(skew)) {
		return fmt.Errorf("%w: expires %d, now %d", ErrExpired, in.expires, now.Unix())
	}
	if now.Sub(created) > v.opts.MaxAge+skew {
		return fmt.Errorf("%w: created %d, now %d, max age %s", ErrTooOld, in.created, now.Unix(), v.opts.MaxAge)
	}
	return nil
}

// rebuild recomputes each covered component from the request, in the order
// signature-input lists them. A component it cannot rebuild is an error, never
// a guess.
func rebuild(draft Draft, covered []string, req Request, headers headerIndex) ([]component, error) {
	lines := make([]component, 0, len(covered))
	for _, name := range covered {
		value, err := componentValue(draft, name, req, headers)
		if err != nil {
			return nil, err
		}
		lines = append(lines, component{name, value})
	}
	return lines, nil
}

func componentValue(draft Draft, name string, req Request, headers headerIndex) (string, error) {
	switch name {
	case componentMethod:
		return strings.ToUpper(req.Method), nil
	case componentPath:
		if req.Path == "" {
			return "", fmt.Errorf("%w: @path is covered but the request has no path", ErrMalformed)
		}
		return req.Path, nil
	case componentQuery:
		if req.RawQuery == "" {
			return "", fmt.Errorf("%w: @query is covered but the request has no query", ErrMalformed)
		}
		return "?" + req.RawQuery, nil
	case draft.bodyDigestHeader():
		// Upvest's signers add the body's digest as they computed it, without field rules.
		value, ok := headers.joined(name)
		if !ok {
			return "", fmt.Errorf("%w: covered header %s", ErrMissingHeader, name)
		}
		return value, nil
	case headerSignature, headerSignatureInput:
		return "", fmt.Errorf("%w: a signature cannot cover %s", ErrMalformed, name)
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("%w: derived component %s is not supported", ErrMalformed, name)
	}
	header, _, _ := strings.Cut(name, ":")
	values, ok := headers[header]
	if !ok {
		return "", fmt.Errorf("%w: covered header %s", ErrMissingHeader, header)
	}
	parts, err := headerComponents(header, values)
	if err != nil {
		return "", fmt.Errorf("%w: cannot rebuild covered header %s: %v", ErrMalformed, header, err)
	}
	for _, p := range parts {
		if p.name == name {
			return p.value, nil
		}
	}
	return "", fmt.Errorf("%w: cannot rebuild component %s from header %s", ErrMalformed, name, header)
}
