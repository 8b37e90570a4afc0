package schema

import "sort"

// Table is the shape of a DynamoDB table: the one definition from which both
// the CDK stack (infra/stack/tables.go) and the local provisioning
// (shared/localaws) build their tables. Every key attribute is a string.
type Table struct {
	PartitionKey string
	Indexes      []Index    // global secondary indexes, in a fixed order
	StreamView   StreamView // "" for no stream
	TTLAttribute string     // "" for no TTL
}

// Index is a global secondary index.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
	Projection   Projection
}

// Projection is which attributes an index copies, named as DynamoDB names them.
type Projection string

const (
	ProjectAll      Projection = "ALL"
	ProjectKeysOnly Projection = "KEYS_ONLY"
)

// StreamView is what a table's stream records carry, named as DynamoDB names it.
type StreamView string

const StreamNewAndOldImages StreamView = "NEW_AND_OLD_IMAGES"

// KeyAttributes are the attributes the table and its indexes are keyed on,
// sorted: the attribute definitions DynamoDB requires.
func (t Table) KeyAttributes() []string {
	seen := map[string]bool{t.PartitionKey: true}
	for _, ix := range t.Indexes {
		seen[ix.PartitionKey], seen[ix.SortKey] = true, true
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// LedgerTable is the event log and dedup record: one item per event id,
// expiring by TTL, with a sparse index of parked events. The parked index
// projects everything: an operator reads parked events whole, and there are few.
var LedgerTable = Table{
	PartitionKey: LedgerPK,
	Indexes: []Index{
		{Name: LedgerParkedIndex, PartitionKey: LedgerParked, SortKey: LedgerReceivedAt, Projection: ProjectAll},
	},
	TTLAttribute: LedgerExpiresAt,
}

// StateTable is one domain's current state: one item per entity, streamed with
// both images so that consumers see what changed. The query indexes are sparse
// and keys only (a reader fetches the rows it needs by pk): an update writes an
// index entry only when one of the index's keys (its id or ordered_at) changes,
// not for a change of object, status or view alone, and the entry is a few
// bytes (one write unit) instead of a copy of the whole row.
var StateTable = Table{
	PartitionKey: StatePK,
	Indexes: []Index{
		{Name: StateByUserIndex, PartitionKey: StateUserID, SortKey: StateOrderedAt, Projection: ProjectKeysOnly},
		{Name: StateByAccountIndex, PartitionKey: StateAccountID, SortKey: StateOrderedAt, Projection: ProjectKeysOnly},
		{Name: StateByAccountGroupIndex, PartitionKey: StateAccountGroupID, SortKey: StateOrderedAt, Projection: ProjectKeysOnly},
	},
	StreamView: StreamNewAndOldImages,
}
