"""Webhooks in Partner Center's shape: per-tenant registrations, thin PascalCase
notifications (``referral-created``, ``referral-updated``) recorded with their event in one
store transaction, then signed and delivered at least once by a dispatcher beside the
housekeeping, with exponential backoff and full jitter, to endpoints checked to be safe.
"""
