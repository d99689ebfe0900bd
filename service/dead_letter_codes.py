"""The codes a dead letter carries in ``x-error-code``: one enum, one spelling of each.

It imports nothing of the service, so the wire format (``service.codec``), the dead letter
itself (``service.dead_letters``), the consume loop and the metrics all name a code the
same way. A code is also the ``reason`` label of ``referrals_dead_letters_total``.
"""

from enum import StrEnum
from typing import Final


class DeadLetterCode(StrEnum):
    """Why a record went to the dead-letter topic."""

    NOT_JSON = "not-json"
    NOT_CLOUDEVENT = "not-cloudevent"
    UNKNOWN_TYPE = "unknown-type"
    TOO_LARGE = "too-large"
    INVALID_ATTRIBUTE = "invalid-attribute"
    MISSPELLED_ATTRIBUTE = "misspelled-attribute"
    DUPLICATE_ATTRIBUTE = "duplicate-attribute"
    DUPLICATE_KEY = "duplicate-key"
    UNSUPPORTED_CONTENT_TYPE = "unsupported-content-type"
    UNREADABLE_RECORD = "unreadable-record"
    PROCESSING_FAILED = "processing-failed"
    PUBLISH_REFUSED = "publish-refused"


#: What each code means, as the contract and the metrics' help describe it.
MEANINGS: Final[dict[DeadLetterCode, str]] = {
    DeadLetterCode.NOT_JSON: "the value (or data_base64) is not JSON the service reads",
    DeadLetterCode.NOT_CLOUDEVENT: (
        "neither a structured envelope nor ce_* headers of CloudEvents 1.0"
    ),
    DeadLetterCode.UNKNOWN_TYPE: "the type is not one of the commands",
    DeadLetterCode.TOO_LARGE: "the record is larger than the command size limit",
    DeadLetterCode.INVALID_ATTRIBUTE: (
        "an id, subject, tenantid, correlationid or ifmatch of the wrong shape"
    ),
    DeadLetterCode.MISSPELLED_ATTRIBUTE: (
        "an envelope attribute or ce_* header in another case than the lower-case name"
        " of a known attribute (e.g. ifMatch, CE_ID)"
    ),
    DeadLetterCode.DUPLICATE_ATTRIBUTE: (
        "a ce_* or content-type header given twice: readers would disagree on the command"
    ),
    DeadLetterCode.DUPLICATE_KEY: (
        "a JSON object of the record (the envelope or its data) names a key twice: readers"
        " would disagree on which counts"
    ),
    DeadLetterCode.UNSUPPORTED_CONTENT_TYPE: (
        "a datacontenttype (or binary content-type) that is not JSON, on a command whose"
        " data is read as JSON"
    ),
    DeadLetterCode.UNREADABLE_RECORD: (
        "a record the Kafka client could not parse (e.g. a header name that is not UTF-8)"
    ),
    DeadLetterCode.PROCESSING_FAILED: (
        "a poison record: processing failed on it alone, attempt after attempt"
    ),
    DeadLetterCode.PUBLISH_REFUSED: (
        "an outgoing record of the service that the broker refused repeatedly"
    ),
}
