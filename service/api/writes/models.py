"""The write API's own bodies, as models the OpenAPI document names: a JSON Patch operation
(a patch's body is a list of them) and the status of a write (``ReferralOperation``)."""

from enum import StrEnum
from typing import Annotated, Any, NotRequired

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads it for the schema on Python 3.11

from service.api.errors import ErrorDetail


class PatchOp(StrEnum):
    """The JSON Patch operations Partner Center takes."""

    ADD = "add"
    REPLACE = "replace"


class PatchOperation(TypedDict):
    """One JSON Patch (RFC 6902) operation; Partner Center takes ``add`` and ``replace``."""

    op: PatchOp
    path: Annotated[str, Field(description="A JSON Pointer into the referral, e.g. /status.")]
    value: Any


class OperationStatus(StrEnum):
    """Where a write stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ReferralOperation(TypedDict):
    """What became of a write answered 202: running, succeeded or failed."""

    id: Annotated[str, Field(description="The request id: the command's id.")]
    status: OperationStatus
    statusUrl: NotRequired[str]
    resourceLocation: NotRequired[
        Annotated[str, Field(description="The referral's URL, once the write succeeded.")]
    ]
    eTag: NotRequired[Annotated[str, Field(description="Its eTag as the write left it.")]]
    error: NotRequired[ErrorDetail]
