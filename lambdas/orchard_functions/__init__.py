"""What Orchard's Lambda functions share: run plans, S3 locations, output checks, costs."""
