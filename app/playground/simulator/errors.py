"""GitHub's error bodies: `basic-error` for 4xx/5xx, `validation-error` for 422.

    SimError(status, message)              -> {"message", "documentation_url", "status"}
    ├── NotFound                           404 "Not Found"
    ├── Unauthorized                       401 "Bad credentials" / "Requires authentication"
    ├── Forbidden                          403 "Resource not accessible by integration"
    ├── BlobTooLarge                       403 a file over 1 MB from the contents API + errors[too_large]
    └── Unprocessable(errors=[...])        422 "Validation Failed" + errors[{resource, field, code}]

Routes and the state layer raise these; one handler turns them into responses.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

DOCS = "https://docs.github.com/rest"


class SimError(Exception):
    """An error GitHub would answer with; carries its status, message and extra headers."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "documentation_url": DOCS, "status": str(self.status)}


class NotFound(SimError):
    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(404, message)


class Unauthorized(SimError):
    def __init__(self, message: str = "Bad credentials") -> None:
        super().__init__(401, message)


class Forbidden(SimError):
    def __init__(self, message: str = "Resource not accessible by integration") -> None:
        super().__init__(403, message)


class BlobTooLarge(SimError):
    """The contents API's answer for a file over 1 MB in its JSON media type (the raw one serves it):
    GitHub's own words and `errors` entry, as clients report them (octokit/octokit.rb#1104)."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "This API returns blobs up to 1 MB in size. The requested blob is too large to fetch via "
            "the API, but you can use the Git Data API to request blobs up to 100 MB in size.",
        )

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "errors": [{"resource": "Blob", "field": "data", "code": "too_large"}],
            "documentation_url": f"{DOCS}/repos/contents#get-repository-content",
            "status": str(self.status),
        }


class Unprocessable(SimError):
    """422 with GitHub's `errors` list: dicts `{resource, field, code}` or plain strings (reviews)."""

    def __init__(self, *errors: dict[str, Any] | str, message: str = "Validation Failed") -> None:
        super().__init__(422, message)
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        return super().body() | {"errors": self.errors}


def invalid(resource: str, field: str, code: str = "invalid", **extra: Any) -> Unprocessable:
    return Unprocessable({"resource": resource, "field": field, "code": code, **extra})


def error_response(error: SimError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def on_sim_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SimError)
    return error_response(exc)


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own body/query validation, answered the way GitHub words a 422."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any] | str] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0])
        code = "missing_field" if error["type"] == "missing" else "invalid"
        errors.append({"resource": "Request", "field": field, "code": code, "message": error["msg"]})
    if any(error["loc"][0] == "body" and error["type"] == "json_invalid" for error in exc.errors()):
        return error_response(SimError(400, "Problems parsing JSON"))
    return error_response(Unprocessable(*errors))


HANDLERS = {SimError: on_sim_error, RequestValidationError: on_request_validation}
