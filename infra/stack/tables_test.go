package stack

import (
	"reflect"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// tableShape is what must be equal between a deployed and a local table.
type tableShape struct {
	Keys       []string            // "name HASH", ...
	Attributes []string            // "name S", sorted
	Indexes    map[string][]string // name: key schema then "projection P"
	StreamView string
	TTL        string
}

// TestLocalTablesEqualTheStackTables compares the tables in the template with
// the ones `make run` and the tests provision: keys, attribute types, indexes
// with their projection, stream view, TTL attribute.
func TestLocalTablesEqualTheStackTables(t *testing.T) {
	s := synth(t, Sandbox)
	w := wire(t, s)
	check := func(t *testing.T, id string, def schema.Table) {
		t.Helper()
		got := shapeOfTemplate(s.tp.Resources[id].Properties)
		want := shapeOfLocal(localaws.TableRequestsFor("local", def))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("stack table %s\n got %+v\nlocal %+v", id, got, want)
		}
	}
	check(t, w.ledger, schema.LedgerTable)
	for _, d := range events.Domains() {
		check(t, w.table[d], schema.StateTable)
	}
}

func shapeOfTemplate(p map[string]any) tableShape {
	keys := func(v any) []string {
		var out []string
		for _, k := range v.([]any) {
			out = append(out, dig(k, "AttributeName").(string)+" "+dig(k, "KeyType").(string))
		}
		return out
	}
	shape := tableShape{Keys: keys(p["KeySchema"]), Indexes: map[string][]string{}}
	for _, a := range p["AttributeDefinitions"].([]any) {
		shape.Attributes = append(shape.Attributes, dig(a, "AttributeName").(string)+" "+dig(a, "AttributeType").(string))
	}
	sort.Strings(shape.Attributes)
	if gsis, ok := p["GlobalSecondaryIndexes"].([]any); ok {
		for _, g := range gsis {
			shape.Indexes[dig(g, "IndexName").(string)] = append(keys(dig(g, "KeySchema")), "projection "+dig(g, "Projection", "ProjectionType").(string))
		}
	}
	shape.StreamView, _ = dig(p, "StreamSpecification", "StreamViewType").(string)
	shape.TTL, _ = dig(p, "TimeToLiveSpecification", "AttributeName").(string)
	return shape
}

func shapeOfLocal(in localaws.TableRequests) tableShape {
	shape := tableShape{Indexes: map[string][]string{}}
	if in.TTL != nil {
		shape.TTL = aws.ToString(in.TTL.TimeToLiveSpecification.AttributeName)
	}
	for _, k := range in.Create.KeySchema {
		shape.Keys = append(shape.Keys, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	for _, a := range in.Create.AttributeDefinitions {
		shape.Attributes = append(shape.Attributes, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	sort.Strings(shape.Attributes)
	for _, g := range in.Create.GlobalSecondaryIndexes {
		var keys []string
		for _, k := range g.KeySchema {
			keys = append(keys, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
		}
		shape.Indexes[aws.ToString(g.IndexName)] = append(keys, "projection "+string(g.Projection.ProjectionType))
	}
	if spec := in.Create.StreamSpecification; spec != nil && aws.ToBool(spec.StreamEnabled) {
		shape.StreamView = string(spec.StreamViewType)
	}
	return shape
}
