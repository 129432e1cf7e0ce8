"""One error type with code, message, hint, retryable and exit code; the service's error table."""

from __future__ import annotations

from typing import Any

# Exit codes (ARCHITECTURE.md): the convention of the Model Studio and MiniMax CLIs.
EXIT_OK = 0
EXIT_FAILED = 1  # the task failed or was cancelled on the service, or anything not below
EXIT_INVALID = 2  # invalid request; nothing was sent
EXIT_AUTH = 3  # credentials, permission, region or model access
EXIT_QUOTA = 4  # quota, throttling or arrears
EXIT_PENDING = 5  # still running when the wait ended (resumable)
EXIT_NETWORK = 6  # network or service unavailable after retries
EXIT_CONFIRM = 7  # needs confirmation (cost guard)
EXIT_MODERATION = 10  # content moderation

_MODEL_HINT = (
    "Check, in order: the model name (`generate_video.py models` lists the exact names; "
    "dated suffixes and aliases do not exist), the region (model, endpoint and API key must "
    "belong to the same region; `--region`), whether the Wan video service is activated for "
    "the account in the Model Studio console, and whether the API key's workspace may use "
    "this model. `generate_video.py doctor --model NAME` checks the first two offline."
)

# Service error code -> (exit code, retryable, hint). The service's own message is kept;
# the hint says what to do. Codes not listed fall back by HTTP status (see for_status).
SERVICE_ERRORS: dict[str, tuple[int, bool, str]] = {
    "InvalidParameter": (EXIT_INVALID, False,
                         "The service rejected a parameter; fix the request (see `models` for "
                         "each model's sizes, resolutions and durations). Do not retry as is."),
    "InvalidParameter.DataInspection": (EXIT_INVALID, False,
                                        "The service could not download an input file; use a "
                                        "public http(s) URL or a local file (it is uploaded)."),
    "InvalidURL": (EXIT_INVALID, False, "An input URL is not reachable by the service."),
    "InvalidURL.ConnectionRefused": (EXIT_INVALID, False, "An input URL refused the service's connection."),
    "InvalidURL.Timeout": (EXIT_INVALID, False, "The service timed out downloading an input URL."),
    "BadRequest.InputDownloadFailed": (EXIT_INVALID, False, "The service could not download an input file."),
    "BadRequest.EmptyInput": (EXIT_INVALID, False, "The request had no input."),
    "BadRequest.EmptyParameters": (EXIT_INVALID, False, "The request had no parameters."),
    "BadRequest.EmptyModel": (EXIT_INVALID, False, "The request named no model."),
    "BadRequest.TooLarge": (EXIT_INVALID, False, "The request body is too large; pass images by URL or path."),
    "DataInspectionFailed": (EXIT_MODERATION, False,
                             "Content moderation rejected the input or the output. Rephrase the "
                             "prompt (and negative_prompt), or use another image; retrying the "
                             "same request will fail the same way."),
    "IPInfringementSuspect": (EXIT_MODERATION, False,
                              "The input looks like protected IP (a famous character or brand); "
                              "describe an original subject instead."),
    "Arrearage": (EXIT_QUOTA, False,
                  "The account is overdue. Top up in the Alibaba Cloud billing console, then retry."),
    "PrepaidBillOverdue": (EXIT_QUOTA, False, "The prepaid bill is overdue; settle it in the billing console."),
    "PostpaidBillOverdue": (EXIT_QUOTA, False, "The postpaid bill is overdue; settle it in the billing console."),
    "CommodityNotPurchased": (EXIT_QUOTA, False, "The service is not purchased; activate it in the console."),
    "AllocationQuota.FreeTierOnly": (EXIT_QUOTA, False,
                                     "The free tier is used up and the account is in 'use free tier "
                                     "only' mode: turn that mode off in the Model Studio console to "
                                     "continue on a paid basis."),
    "Throttling": (EXIT_QUOTA, True, "Too many requests; wait and retry, or lower --concurrency."),
    "Throttling.RateQuota": (EXIT_QUOTA, True, "Submit rate limit reached; wait a second and retry."),
    "Throttling.BurstRate": (EXIT_QUOTA, True, "Requests rose too quickly; spread them out."),
    "Throttling.AllocationQuota": (EXIT_QUOTA, True, "Allocated quota exceeded; raise the quota or wait."),
    "Throttling.Concurrency": (EXIT_QUOTA, True, "Too many tasks at once; wait for running tasks."),
    "LimitRequests": (EXIT_QUOTA, True, "Request limit exceeded; wait and retry."),
    "InvalidApiKey": (EXIT_AUTH, False,
                      "The API key was refused. Check DASHSCOPE_API_KEY (or dashscope_api_key in "
                      "~/.alibabacloud/credentials) and that the key belongs to this region: a "
                      "Beijing key fails in Singapore and the other way round."),
    "AccessDenied": (EXIT_AUTH, False,
                     "Access denied: the account or key may not use this model, or the service is "
                     "not activated. " + _MODEL_HINT),
    "AccessDenied.Unpurchased": (EXIT_AUTH, False,
                                 "The Wan video service is not activated for this account: open "
                                 "the Model Studio console and activate it, then retry."),
    "Model.AccessDenied": (EXIT_AUTH, False, "This workspace may not use the model; grant it in the console."),
    "Workspace.AccessDenied": (EXIT_AUTH, False, "The key may not use this workspace."),
    "ModelNotFound": (EXIT_AUTH, False, _MODEL_HINT),
    "Model.NotExist": (EXIT_AUTH, False, _MODEL_HINT),
    "WorkSpaceNotFound": (EXIT_AUTH, False, "The workspace id does not exist in this region."),
    "UnsupportedOperation": (EXIT_FAILED, False,
                             "Only a PENDING task can be cancelled; a running task runs to its end "
                             "(and is billed if it succeeds)."),
    "RequestTimeOut": (EXIT_NETWORK, True, "The service timed out; retry later."),
    "InternalError": (EXIT_FAILED, True, "The service failed internally; submitting again usually works."),
    "InternalError.Algo": (EXIT_FAILED, True, "The model failed on this input; submitting again may work."),
    "InternalError.Timeout": (EXIT_FAILED, True,
                              "The task produced nothing within the service's 3-hour limit; submit again."),
    "SystemError": (EXIT_FAILED, True, "The service failed; retry later."),
    "ModelUnavailable": (EXIT_NETWORK, True, "The model is unavailable for now; retry later."),
    "ServiceUnavailable": (EXIT_NETWORK, True, "The service is unavailable; retry later."),
}

# Messages that turn a generic code into a precise diagnosis.
MESSAGE_HINTS: list[tuple[str, int, str]] = [
    ("Model not exist", EXIT_AUTH, _MODEL_HINT),
    ("Field required: input.img_url", EXIT_INVALID,
     "This model animates an image: set reference_image (URL, oss:// URL, local path, file:// "
     "or data: URI). An i2v model never works from a prompt alone."),
    ("Field required: input.media", EXIT_INVALID,
     "wan2.7-i2v takes its images as media[] items; this tool maps reference_image to a "
     "first_frame item. Update the SDK if you built the body by hand."),
    ("Field required: input.first_frame_url", EXIT_INVALID,
     "First-and-last-frame models need reference_image (the first frame)."),
    ("url error", EXIT_INVALID,
     "The model and the endpoint do not match (kf2v models use the image2video path), or the "
     "SDK is too old."),
    ("The size is not match", EXIT_INVALID,
     "The size is not one this model accepts; `generate_video.py models` lists them."),
    ("does not support synchronous calls", EXIT_INVALID,
     "Video generation is asynchronous only: the X-DashScope-Async: enable header is required."),
    ("Policy expired", EXIT_NETWORK, "The upload policy expired; run again to get a fresh one."),
]


class WanVideoError(Exception):
    """Every error the tool reports: machine-readable code, the words, and what to do."""

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        *,
        exit_code: int = EXIT_FAILED,
        retryable: bool = False,
        task_id: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        details: Any = None,
        resume: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.resume = resume
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.retryable = retryable
        self.task_id = task_id
        self.http_status = http_status
        self.request_id = request_id
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        for key in ("task_id", "status", "resume", "http_status", "request_id", "details"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["retryable"] = self.retryable
        out["exit_code"] = self.exit_code
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidRequest(WanVideoError):
    """Bad input found before anything was sent (exit 2)."""

    def __init__(self, message: str, hint: str = "", *, problems: list[dict[str, Any]] | None = None,
                 code: str = "InvalidRequest") -> None:
        super().__init__(code, message, hint, exit_code=EXIT_INVALID, details=problems)
        self.problems = problems or []


def for_status(http_status: int | None) -> tuple[int, bool]:
    """Exit code and retryability for an HTTP status with an unknown error code."""
    if http_status in (401, 403, 404):
        return EXIT_AUTH, False
    if http_status == 429:
        return EXIT_QUOTA, True
    if http_status is not None and http_status >= 500:
        return EXIT_NETWORK, True
    if http_status is not None and 400 <= http_status < 500:
        return EXIT_INVALID, False
    return EXIT_FAILED, False


def from_service(
    code: str | None,
    message: str | None,
    *,
    http_status: int | None = None,
    task_id: str | None = None,
    request_id: str | None = None,
    task_failed: bool = False,
) -> WanVideoError:
    """Build our error from what the service said, keeping its own words."""
    code = code or (f"HTTP{http_status}" if http_status else "ServiceError")
    message = message or "The service gave no message."
    exit_code, retryable = for_status(http_status)
    hint = ""
    if code in SERVICE_ERRORS:
        exit_code, retryable, hint = SERVICE_ERRORS[code]
    for needle, exit_for_msg, msg_hint in MESSAGE_HINTS:
        if needle.lower() in message.lower():
            exit_code, hint = exit_for_msg, msg_hint
            break
    if task_failed and exit_code == EXIT_INVALID:
        # The task was accepted and then failed: the request was sent, so not exit 2.
        exit_code = EXIT_FAILED
    if not hint:
        hint = "See references/troubleshooting.md for this code."
    return WanVideoError(
        code, message, hint, exit_code=exit_code, retryable=retryable, task_id=task_id,
        http_status=http_status, request_id=request_id,
    )
