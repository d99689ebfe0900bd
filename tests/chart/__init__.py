"""Tests of the Helm chart under charts/referral-service, rendered offline."""
