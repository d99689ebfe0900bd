"""The service shell around the referral domain: settings, Kafka, storage, metrics, HTTP, CLI."""
