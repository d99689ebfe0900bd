"""Errors of the service shell, and whether retrying can help.

- ``ServiceError``: the root.
  - ``StoreUnavailable`` (retriable): the database could not be reached or failed mid-way.
  - ``BrokerUnavailable`` (retriable): Kafka did not acknowledge a publish or a commit.
  - ``StaleWrite`` (retriable after reloading): a referral's stored version moved on
    since it was loaded, i.e. another replica wrote it; the batch is decided again.
  - ``ConfigurationError`` (fatal): the settings cannot work, e.g. an unknown database URL.

Domain refusals are not errors here: they are ``state.Rejected`` values. Records that are
not commands raise ``service.codec.Undecodable``. The consume loop alone decides what to
retry, reject or dead-letter.
"""


class ServiceError(Exception):
    retriable = False


class StoreUnavailable(ServiceError):
    retriable = True


class BrokerUnavailable(ServiceError):
    retriable = True


class StaleWrite(ServiceError):
    retriable = True


class ConfigurationError(ServiceError):
    pass
