// Command leaky is a fixture of the dependency test: a Lambda whose main
// imports a test helper (awstest) and a local stand-in (localrun). The test
// checks it against the ingest Lambda's allowed list and expects both to be
// refused: it proves the check fails when it must.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
)

var (
	_ = awstest.Env
	_ = localrun.Run
)

func main() { lambda.Start(func() error { return nil }) }
