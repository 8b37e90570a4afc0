package config

import (
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

func TestLoadWorker(t *testing.T) {
	valid := map[string]string{
		schema.EnvDomain:      "orders",
		schema.EnvStateTable:  "upvest-state-orders",
		schema.EnvLedgerTable: "upvest-ledger",
	}
	with := func(changes map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range valid {
			env[k] = v
		}
		for k, v := range changes {
			env[k] = v
		}
		return env
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Worker
		wantErr []string // substrings the error must contain; nil means no error
	}{
		{
			name: "valid",
			env:  valid,
			want: Worker{Domain: events.Orders, StateTable: "upvest-state-orders", LedgerTable: "upvest-ledger"},
		},
		{
			name: "surrounding spaces are trimmed",
			env:  with(map[string]string{schema.EnvDomain: " corporate_actions ", schema.EnvStateTable: " t "}),
			want: Worker{Domain: events.CorporateActions, StateTable: "t", LedgerTable: "upvest-ledger"},
		},
		{
			name: "unrouted is a domain",
			env:  with(map[string]string{schema.EnvDomain: "unrouted"}),
			want: Worker{Domain: events.Unrouted, StateTable: "upvest-state-orders", LedgerTable: "upvest-ledger"},
		},
		{
			name:    "nothing set lists every missing variable",
			env:     map[string]string{},
			wantErr: []string{"worker configuration", "DOMAIN is required", "STATE_TABLE is required", "LEDGER_TABLE is required"},
		},
		{
			name:    "unknown domain names the valid ones",
			env:     with(map[string]string{schema.EnvDomain: "Orders"}),
			wantErr: []string{`DOMAIN="Orders" is not a domain`, "accounts, corporate_actions,", "unrouted, users"},
		},
		{
			name:    "several problems in one message",
			env:     with(map[string]string{schema.EnvDomain: "nope", schema.EnvLedgerTable: ""}),
			wantErr: []string{`DOMAIN="nope"`, "LEDGER_TABLE is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadWorker(func(k string) string { return tt.env[k] })
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("LoadWorker: %v", err)
				}
				if got != tt.want {
					t.Fatalf("LoadWorker = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadWorker = %+v, want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}
