package stack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// CheckRegion checks the settings that depend on the stack's region, known
// only at synthesis (the CLI's region, or the stack's env): a regional custom
// domain needs its ACM certificate in that region, else CloudFormation fails
// the deploy halfway, at the domain name; and the key sync and subscription
// functions read the API client's secret with a client of the stack's region,
// which cannot read a secret of another region.
func (c Config) CheckRegion(region string) error {
	if region == "" {
		return nil
	}
	var errs []error
	if c.CertificateARN != "" {
		parts := strings.Split(c.CertificateARN, ":")
		if len(parts) < 6 || parts[2] != "acm" || !strings.HasPrefix(parts[5], "certificate/") {
			errs = append(errs, fmt.Errorf("certificateArn: %q is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)", c.CertificateARN))
		} else if parts[3] != region {
			errs = append(errs, fmt.Errorf("certificateArn: the certificate is in %s, but the stack deploys to %s; "+
				"a regional API domain needs an ACM certificate in the stack's own region (request or import one there)", parts[3], region))
		}
	}
	// The ARN's form is checked at load (validateKeySync).
	if parts := strings.Split(c.UpvestAPISecretARN, ":"); c.UpvestAPISecretARN != "" && len(parts) == 7 && parts[3] != region {
		errs = append(errs, fmt.Errorf("upvestApiSecretArn: the secret is in %s, but the stack deploys to %s; "+
			"the key sync reads it from the stack's region (create the secret there, or replicate it and give the replica's ARN)", parts[3], region))
	}
	return errors.Join(errs...)
}

// checkRegion fails the synthesis (an error annotation) when the stack's
// region is known and a region-bound setting does not fit it.
func checkRegion(stack awscdk.Stack, cfg Config) {
	region := stack.Region()
	if *awscdk.Token_IsUnresolved(region) {
		return // environment-agnostic: checked by the CLI's synth, which knows the region
	}
	if err := cfg.CheckRegion(*region); err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
}
