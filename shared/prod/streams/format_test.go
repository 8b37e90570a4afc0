package streams

import "testing"

func TestFormatChange(t *testing.T) {
	tests := []struct {
		name string
		c    Change
		want string
	}{
		{
			name: "status transition",
			c: Change{Domain: "orders", Key: "ORDER#eb5ba93f-5dfe-4bf1-8571-4da0caacc80c", Kind: Modify,
				OldStatus: "NEW", NewStatus: "FILLED", OldVersion: 2, NewVersion: 3, EventType: "ORDER.FILLED"},
			want: "orders ORDER#eb5ba93f… NEW→FILLED v3 ORDER.FILLED",
		},
		{
			name: "insert with status",
			c:    Change{Domain: "payments", Key: "WITHDRAWAL#4a1e1b7c-52b4-4d0e-9c1b-0e6a3f3d2c11", Kind: Insert, NewStatus: "NEW", NewVersion: 1, EventType: "WITHDRAWAL.NEW"},
			want: "payments WITHDRAWAL#4a1e1b7c… ∅→NEW v1 WITHDRAWAL.NEW",
		},
		{
			name: "status lost on modify",
			c:    Change{Domain: "orders", Key: "ORDER#x", Kind: Modify, OldStatus: "NEW", NewVersion: 2},
			want: "orders ORDER#x NEW→- v2",
		},
		{
			name: "remove shows the last version",
			c:    Change{Domain: "orders", Key: "ORDER#x", Kind: Remove, OldStatus: "FILLED", OldVersion: 5},
			want: "orders ORDER#x FILLED→∅ v5",
		},
		{
			name: "non-uuid key parts are kept",
			c: Change{Domain: "reports", Key: "ACCOUNT_RETURNS#c5161455-4d27-4781-bc74-f05532e49a77#2024-01-31", Kind: Insert,
				NewVersion: 1, EventType: "ACCOUNT_RETURNS.CREATED"},
			want: "reports ACCOUNT_RETURNS#c5161455…#2024-01-31 created v1 ACCOUNT_RETURNS.CREATED",
		},
		{
			name: "no category falls back to the table name",
			c:    Change{Table: "upvest-state-orders", Key: "ORDER#x", Kind: Modify, NewVersion: 4},
			want: "upvest-state-orders ORDER#x changed v4",
		},
		{
			name: "view without statuses",
			c:    Change{Domain: "orders", Key: "ORDER#x", Kind: Modify, NewStatus: "FILLED", OldStatus: "FILLED", NewVersion: 4, Views: map[string]ViewSummary{"executions_view": {Count: 2}}},
			want: "orders ORDER#x FILLED v4 executions=2",
		},
		{
			name: "nothing known",
			c:    Change{Key: "K", Kind: Insert},
			want: "? K created v0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatChange(tt.c); got != tt.want {
				t.Errorf("FormatChange = %q\n                want %q", got, tt.want)
			}
		})
	}
}
