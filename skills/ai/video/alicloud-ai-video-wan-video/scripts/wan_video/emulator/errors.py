"""Wire errors: the service's documented error bodies, and OSS's XML errors.

Every DashScope error is an HTTP status plus a flat JSON body
`{"code", "message", "request_id"}`; task-level failures are `(code, message)` pairs
that end up inside `output` of an HTTP 200 query. Wording is verbatim from
references/wan_api.md section 4; anything else is marked as an emulator decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response


@dataclass(frozen=True)
class WireError:
    """One documented error: HTTP status, code and message."""

    status: int
    code: str
    message: str


class ApiError(Exception):
    """Raised by a handler to answer with a DashScope error body."""

    def __init__(self, error: WireError, retry_after: float | None = None) -> None:
        super().__init__(f"{error.status} {error.code}: {error.message}")
        self.error = error
        self.retry_after = retry_after


NO_API_KEY = WireError(401, "InvalidApiKey", "No API-key provided.")
INVALID_API_KEY = WireError(401, "InvalidApiKey", "Invalid API-key provided.")
SYNC_NOT_SUPPORTED = WireError(
    403, "AccessDenied", "current user api does not support synchronous calls."
)
ACCESS_DENIED = WireError(403, "AccessDenied", "Access denied.")
BODY_INVALID = WireError(
    400, "InvalidParameter", "Required body invalid, please check the request body format."
)
EMPTY_MODEL = WireError(
    400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.'
)
EMPTY_INPUT = WireError(
    400, "BadRequest.EmptyInput", "Required input parameter missing from request."
)
MODEL_NOT_EXIST = WireError(400, "InvalidParameter", "Model not exist.")
URL_ERROR = WireError(400, "InvalidParameter", "url error, please check url!")
INVALID_URL = WireError(
    400,
    "InvalidParameter",
    "The provided URL does not appear to be valid. Ensure it is correctly formatted.",
)
RATE_QUOTA = WireError(
    429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."
)
CANCEL_NOT_PENDING = WireError(
    400,
    "UnsupportedOperation",
    "Failed to cancel the task, please confirm if the task is in PENDING status.",
)
INTERNAL_ERROR = WireError(
    500,
    "InternalError",
    "An internal error has occured, please try again later or contact service support.",
)
MODEL_UNAVAILABLE = WireError(503, "ModelUnavailable", "Model is unavailable, please try again later.")
NOT_FOUND = WireError(404, "NotFound", "Not Found.")  # decision: no documented body


def field_required(field: str) -> WireError:
    return WireError(400, "InvalidParameter", f"Field required: {field}")


def parameter_invalid(name: str) -> WireError:
    return WireError(
        400,
        "InvalidParameter",
        f"Required parameter({name}) missing or invalid, please check the request parameters.",
    )


# What a `status` fault answers when the rule names only an HTTP status.
DEFAULT_BY_STATUS: dict[int, WireError] = {
    e.status: e
    for e in (INVALID_API_KEY, ACCESS_DENIED, RATE_QUOTA, INTERNAL_ERROR, MODEL_UNAVAILABLE)
}


def default_error(status: int) -> WireError:
    known = DEFAULT_BY_STATUS.get(status)
    if known:
        return known
    return WireError(status, INTERNAL_ERROR.code, INTERNAL_ERROR.message)


def error_response(
    error: WireError, request_id: str, retry_after: float | None = None
) -> JSONResponse:
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else None
    body = {"code": error.code, "message": error.message, "request_id": request_id}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# ---------------------------------------------------------------- task-level failures
# (code, message) pairs a task ends FAILED with; the query still answers HTTP 200.

TaskFailure = tuple[str, str]

MEDIA_DOWNLOAD_FAILED: TaskFailure = (
    "InvalidParameter.DataInspection",
    "Unable to download the media resource during the data inspection process.",
)
MEDIA_NOT_FOUND: TaskFailure = (
    "InvalidParameter.DataInspection",
    "Failed to find the requested media resource during the data inspection process.",
)
# decision: DashScope's wording for undecodable media on other multimodal APIs.
MEDIA_FORMAT: TaskFailure = (
    "InvalidParameter.DataInspection",
    "The media format is not supported or incorrect for the data inspection.",
)
TASK_INTERNAL_ERROR: TaskFailure = (
    "InternalError.Algo",
    "An internal error has occured during execution, please try again later or contact service support.",
)


class TaskFailed(Exception):
    """Raised while planning a task: the task will end FAILED with this code and message."""

    def __init__(self, failure: TaskFailure) -> None:
        super().__init__(f"{failure[0]}: {failure[1]}")
        self.failure = failure


def not_match(what: str, allowed: str) -> TaskFailure:
    """The documented 'The size is not match xxxxxx', extended to the other choices."""
    return ("InvalidParameter", f"The {what} is not match, supported {what}s: {allowed}")


# ---------------------------------------------------------------- OSS (uploads, results)


@dataclass(frozen=True)
class OssWireError:
    """An OSS error, answered as OSS's XML body."""

    status: int
    code: str
    message: str
    extra: tuple[tuple[str, str], ...] = ()


class OssError(Exception):
    """Raised by an OSS handler (upload, result download) to answer with XML."""

    def __init__(self, error: OssWireError) -> None:
        super().__init__(f"{error.status} {error.code}: {error.message}")
        self.error = error


def oss_expired(expires: int, now: float) -> OssWireError:
    return OssWireError(
        403,
        "AccessDenied",
        "Request has expired.",
        (("Expires", _iso(expires)), ("ServerTime", _iso(now))),
    )


OSS_SIGNATURE_MISMATCH = OssWireError(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided.",
)
OSS_NO_SUCH_KEY = OssWireError(404, "NoSuchKey", "The specified key does not exist.")
OSS_POLICY_EXPIRED = OssWireError(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
OSS_TOO_LARGE = OssWireError(
    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
)
OSS_ALREADY_EXISTS = OssWireError(
    409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten."
)
OSS_ACCESS_DENIED = OssWireError(
    403, "AccessDenied", "You have no right to access this object because of bucket acl."
)
OSS_INTERNAL = OssWireError(500, "InternalError", "We encountered an internal error. Please try again.")


def oss_invalid_argument(message: str) -> OssWireError:
    return OssWireError(400, "InvalidArgument", message)


def oss_policy_condition(condition: str) -> OssWireError:
    return OssWireError(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition}"
    )


def oss_response(error: OssWireError, request_id: str, host: str) -> Response:
    fields = [
        ("Code", error.code),
        ("Message", error.message),
        ("RequestId", request_id),
        ("HostId", host),
        *error.extra,
    ]
    inner = "".join(f"  <{k}>{escape(v)}</{k}>\n" for k, v in fields)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n{inner}</Error>\n'
    return Response(
        body,
        status_code=error.status,
        media_type="application/xml",
        headers={"x-oss-request-id": request_id},
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
