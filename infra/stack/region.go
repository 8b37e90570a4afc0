package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// CheckRegion checks the settings that depend on the stack's region, known
// only at synthesis (the CLI's region, or the stack's env): a regional custom
// domain needs its ACM certificate in that region, else CloudFormation fails
// the deploy halfway, at the domain name.
func (c Config) CheckRegion(region string) error {
	if c.CertificateARN == "" || region == "" {
		return nil
	}
	parts := strings.Split(c.CertificateARN, ":")
	if len(parts) < 6 || parts[2] != "acm" || !strings.HasPrefix(parts[5], "certificate/") {
		return fmt.Errorf("certificateArn: %q is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)", c.CertificateARN)
	}
	if parts[3] != region {
		return fmt.Errorf("certificateArn: the certificate is in %s, but the stack deploys to %s; "+
			"a regional API domain needs an ACM certificate in the stack's own region (request or import one there)", parts[3], region)
	}
	return nil
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
