"""The HTTP read side: Partner Center's Referrals REST API over the service's own store."""
