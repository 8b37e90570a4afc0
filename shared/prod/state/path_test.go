package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
)

func TestMissingDocumentPathIsRecognised(t *testing.T) {
	validation := &smithy.GenericAPIError{Code: "ValidationException", Message: "The document path provided in the update expression is invalid for update"}
	if !isMissingDocumentPath(fmt.Errorf("UpdateItem: %w", validation)) {
		t.Error("a wrapped document-path ValidationException must be recognised")
	}
	other := &smithy.GenericAPIError{Code: "ValidationException", Message: "One or more parameter values were invalid"}
	if isMissingDocumentPath(other) || isMissingDocumentPath(errors.New("document path")) {
		t.Error("only DynamoDB's document-path validation error counts")
	}
}
