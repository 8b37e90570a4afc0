package worker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Every message that can never apply is parked at once; only what a retry can
// fix comes back (and, after maxReceiveCount, lands in the dead-letter queue).
func TestOnlyRetriableFailuresAreRetried(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	good, goodID := event("ORDER.NEW", order("NEW"))
	tests := []struct {
		name       string
		body       string
		attrs      []string
		storeErr   error
		wantRetry  bool
		want       string // the derived outcome: the store's, or PARKED from the ledger
		wantReason string
	}{
		{name: "base64 event applies", body: b64(good), attrs: []string{message.AttrBodyEncoding, message.EncodingBase64},
			want: string(state.Applied)},
		{name: "legacy raw body applies", body: good, want: string(state.Applied)},
		{name: "not UTF-8", body: b64(strings.Replace(good, `"NEW"`, "\"NE\xffW\"", 1)), attrs: []string{message.AttrBodyEncoding, message.EncodingBase64},
			want: string(ledger.Parked), wantReason: "not valid UTF-8"},
		{name: "body not base64", body: "%%%", attrs: []string{message.AttrBodyEncoding, message.EncodingBase64},
			want: string(ledger.Parked), wantReason: "not base64"},
		{name: "unknown encoding", body: good, attrs: []string{message.AttrBodyEncoding, "zstd"},
			want: string(ledger.Parked), wantReason: "unknown body encoding"},
		{name: "refused by DynamoDB", body: good, storeErr: fmt.Errorf("state: apply: %w", &smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}),
			want: string(ledger.Parked), wantReason: "Item size has exceeded"},
		{name: "throttled", body: good, storeErr: fmt.Errorf("state: apply: %w", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}),
			wantRetry: true},
		{name: "network", body: good, storeErr: errors.New("dial tcp: connection refused"), wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(events.Orders)
			h.store.errs[goodID] = tt.storeErr
			m := msg(tt.body, goodID, tt.attrs...)
			failed := h.handle(t, m)
			if (len(failed) == 1) != tt.wantRetry {
				t.Fatalf("retried %v, want %v (logs %s)", failed, tt.wantRetry, h.logs.String())
			}
			if got, reason := h.outcome(t, goodID), h.ledger.outcomes[goodID].reason; got != tt.want || !contains(reason, tt.wantReason) {
				t.Errorf("outcome %q (reason %q), want %q with reason containing %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
