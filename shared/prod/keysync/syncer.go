// Package keysync keeps the SSM parameter holding Upvest's webhook
// verification keys (JWKS) equal to what Upvest publishes at
// GET /auth/verify_keys, so that a key rotation at Upvest needs nobody.
package keysync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// maxParameterBytes is the most an SSM String parameter holds: 8 KB in the
// Advanced tier (the Standard tier holds 4 KB). The sync writes with
// Intelligent-Tiering, so the parameter stays Standard (free) while the JWKS
// fits in 4 KB, about 14 P-521 keys, and becomes Advanced ($0.05 a month)
// only beyond; a JWKS over 8 KB (about 28 keys) is refused, not truncated.
const maxParameterBytes = 8192

// SSMAPI is the part of the SSM client the sync needs.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

var _ SSMAPI = (*ssm.Client)(nil)

// Syncer fetches Upvest's JWKS and writes it to the SSM parameter.
type Syncer struct {
	Upvest    *Client
	SSM       SSMAPI
	Parameter string       // e.g. /upvest-webhooks/sandbox/jwks
	Logger    *slog.Logger // optional
}

// New wires a Syncer from the configuration and AWS clients built from awsCfg
// (the credentials are read from Secrets Manager on every fetch).
func New(cfg config.KeySync, awsCfg aws.Config, logger *slog.Logger) *Syncer {
	return &Syncer{
		Upvest: &Client{
			BaseURL:     cfg.BaseURL,
			APIVersion:  cfg.APIVersion,
			KeysScope:   cfg.KeysScope,
			Credentials: SecretsManagerCredentials(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID),
			HTTP:        &http.Client{Timeout: 15 * time.Second},
		},
		SSM:       ssm.NewFromConfig(awsCfg),
		Parameter: cfg.Parameter,
		Logger:    logger,
	}
}

// Fetch returns Upvest's current JWKS, compacted, after checking that it
// holds at least one key the ingest function can use.
func (s *Syncer) Fetch(ctx context.Context) ([]byte, error) {
	raw, err := s.Upvest.FetchJWKS(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	keys, skipped, err := signature.ParseJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: Upvest's key set is unusable: %w", err)
	}
	for _, sk := range skipped {
		s.log().Warn("verification key skipped", "kid", sk.Kid, "index", sk.Index, "reason", sk.Reason.Error())
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	if compact.Len() > maxParameterBytes {
		return nil, fmt.Errorf("fetch jwks: Upvest's key set (%d usable keys) takes %d bytes, more than the %d an SSM parameter "+
			"can hold (Advanced tier); it is not written, and the parameter keeps its current keys", len(keys), compact.Len(), maxParameterBytes)
	}
	return compact.Bytes(), nil
}

// Sync fetches Upvest's JWKS and writes it to the parameter when it differs
// from the stored one (compared canonically: key order and formatting do not
// count). It never writes a set without a usable key.
func (s *Syncer) Sync(ctx context.Context) (changed bool, err error) {
	fetched, err := s.Fetch(ctx)
	if err != nil {
		return false, err
	}
	current, found, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	want, err := canonicalJWKS(fetched)
	if err != nil {
		return false, fmt.Errorf("sync jwks: %w", err)
	}
	if found {
		have, err := canonicalJWKS(current)
		if err == nil && bytes.Equal(have, want) {
			s.log().Info("jwks unchanged", "parameter", s.Parameter, "kids", kids(fetched))
			return false, nil
		}
	}
	_, err = s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:  aws.String(s.Parameter),
		Value: aws.String(string(fetched)),
		Type:  ssmtypes.ParameterTypeString, // public keys, not a secret
		// Standard while the keys fit in 4 KB, Advanced (up to 8 KB) beyond,
		// whatever the account's default tier; never back from Advanced.
		Tier:      ssmtypes.ParameterTierIntelligentTiering,
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("sync jwks: write ssm parameter %s: %w", s.Parameter, err)
	}
	s.log().Info("jwks updated", "parameter", s.Parameter, "kids", kids(fetched), "previous_kids", kids(current))
	return true, nil
}

// current reads the stored JWKS; a missing parameter is not an error.
func (s *Syncer) current(ctx context.Context) ([]byte, bool, error) {
	out, err := s.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.Parameter), WithDecryption: aws.Bool(true)})
	var notFound *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sync jwks: read ssm parameter %s: %w", s.Parameter, err)
	case out.Parameter == nil || out.Parameter.Value == nil:
		return nil, false, nil
	}
	return []byte(*out.Parameter.Value), true, nil
}

func (s *Syncer) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// canonicalJWKS is a JWKS in one form: object members sorted (encoding/json
// sorts map keys), no insignificant space, and the "keys" entries sorted, since
// their order means nothing.
func canonicalJWKS(data []byte) ([]byte, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("jwks is not a JSON object: %w", err)
	}
	if keys, ok := doc["keys"].([]any); ok {
		entries := make([]json.RawMessage, len(keys))
		for i, k := range keys {
			b, err := json.Marshal(k)
			if err != nil {
				return nil, err
			}
			entries[i] = b
		}
		slices.SortFunc(entries, func(a, b json.RawMessage) int { return bytes.Compare(a, b) })
		doc["keys"] = entries
	}
	return json.Marshal(doc)
}

// kids lists the key ids of a JWKS, for the log.
func kids(data []byte) []string {
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	out := make([]string, 0, len(doc.Keys))
	for _, k := range doc.Keys {
		out = append(out, k.Kid)
	}
	return out
}
