package perf_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/awscount"
)

// rowFacts describes the pipeline's state rows as they stand after a run, by
// category and last event type: how many, their mean size as DynamoDB bills
// it, how many are over 1 KB (each write to such a row costs 2 or more write
// units), and how many index keys they carry (each a keys-only index entry
// written once, when the row is made). The ceiling's rows are left out.
func rowFacts(ctx context.Context, env awstest.Environment) (string, error) {
	type facts struct{ rows, bytes, over1KB, indexKeys int }
	byKind := map[string]*facts{}
	db := dynamodb.NewFromConfig(env.Config) // uncounted: this reads what the run left
	for _, table := range env.StateTables {
		pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("scan %s: %w", table, err)
			}
			for _, item := range page.Items {
				if pk, _ := item[schema.StatePK].(*ddbtypes.AttributeValueMemberS); pk == nil || strings.HasPrefix(pk.Value, "ceiling#") {
					continue
				}
				kind := stringAttr(item, schema.StateCategory) + " " + stringAttr(item, schema.StateEventType)
				f := byKind[kind]
				if f == nil {
					f = &facts{}
					byKind[kind] = f
				}
				size := awscount.ItemSize(item)
				f.rows++
				f.bytes += size
				if size > 1024 {
					f.over1KB++
				}
				for _, key := range []string{schema.StateUserID, schema.StateAccountID, schema.StateAccountGroupID} {
					if stringAttr(item, key) != "" {
						f.indexKeys++
					}
				}
			}
		}
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "%-52s %7s %10s %9s %16s\n", "category, last event type", "rows", "mean size", "over 1KB", "index keys/row")
	for _, k := range kinds {
		f := byKind[k]
		fmt.Fprintf(&b, "%-52s %7d %8d B %9d %16.2f\n", k, f.rows, f.bytes/f.rows, f.over1KB, float64(f.indexKeys)/float64(f.rows))
	}
	return b.String(), nil
}

func stringAttr(item map[string]ddbtypes.AttributeValue, name string) string {
	if s, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
