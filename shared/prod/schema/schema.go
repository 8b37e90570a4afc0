// Package schema names the DynamoDB tables' keys, attributes and indexes, and
// the environment variables that carry resource names to the Lambdas. The CDK
// stack, the local provisioning and the adapters all read them from here.
package schema

import (
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

// Ledger table: one item per event id (and per authentic request that is not
// an envelope); the event log and the dedup record. Attribute names, for
// expressions; shared/prod/ledger's item type is the whole record.
const (
	LedgerPK = "event_id" // S, partition key

	LedgerKind       = "kind"        // S, "request" for request records, absent for events
	LedgerStatus     = "status"      // S, a ledger.Status
	LedgerDomain     = "domain"      // S
	LedgerEntityKey  = "entity_key"  // S
	LedgerReceivedAt = "received_at" // S, sortable UTC time of the first receipt
	LedgerUpdatedAt  = "updated_at"  // S, sortable UTC time of the last status change
	LedgerLeaseUntil = "lease_until" // N, unix seconds; a RECEIVED record past it was abandoned
	LedgerReason     = "reason"      // S, why it was parked or skipped (bounded)
	LedgerExpiresAt  = "expires_at"  // N, unix seconds; the table's TTL attribute
	LedgerParked     = "parked"      // S, set only while parked (sparse index key)

	// LedgerParkedIndex lists parked records by domain (or "requests"), oldest first: pk parked, sk received_at.
	LedgerParkedIndex = "parked"
)

// State tables: one per domain, one item per entity.
const (
	StatePK = "pk" // S, partition key: the entity key from events.Route

	StateCategory       = "category"         // S
	StateStatus         = "status"           // S, object.status when the object has one
	StateObject         = "object"           // S, the latest object as JSON text, compacted (the ledger keeps the exact bytes)
	StateUserID         = "user_id"          // S
	StateAccountID      = "account_id"       // S
	StateAccountGroupID = "account_group_id" // S
	StateOrderedAt      = "ordered_at"       // S, sortable ordering timestamp
	StatePosition       = "position"         // S, events.Route.Position of the last applied event
	StateEventID        = "event_id"         // S, last applied event id
	StateEventType      = "event_type"       // S, last applied event type
	StateVersion        = "version"          // N, +1 on every change
	StateUpdatedAt      = "updated_at"       // S, sortable time the row last changed

	// Sparse query indexes keyed by the id alone, keys only (see StateTable).
	StateByUserIndex         = "by_user"
	StateByAccountIndex      = "by_account"
	StateByAccountGroupIndex = "by_account_group"
)

// Environment variables that carry resource names to the Lambdas.
const (
	EnvLedgerTable = "LEDGER_TABLE" // ingest and workers
	EnvDomain      = "DOMAIN"       // workers: which domain this worker serves
	EnvStateTable  = "STATE_TABLE"  // workers
)

// QueueURLEnv is the environment variable holding a domain's queue URL for ingest,
// e.g. QUEUE_URL_CORPORATE_ACTIONS.
func QueueURLEnv(d events.Domain) string {
	return "QUEUE_URL_" + strings.ToUpper(string(d))
}

// Names are the physical resource names used by the local run and the tests
// (the deployed stack lets CloudFormation name them and passes them by environment).
type Names struct{ Prefix string }

// LedgerTable is the ledger table's name.
func (n Names) LedgerTable() string { return n.Prefix + "ledger" }

// StateTable is a domain's state table name.
func (n Names) StateTable(d events.Domain) string { return n.Prefix + "state-" + string(d) }

// Queue is a domain's queue name.
func (n Names) Queue(d events.Domain) string { return n.Prefix + string(d) }

// DeadLetterQueue is a domain's dead-letter queue name.
func (n Names) DeadLetterQueue(d events.Domain) string { return n.Prefix + string(d) + "-dlq" }

// LocalNames are the names `make run` uses.
var LocalNames = Names{Prefix: "upvest-"}
