"""Domain errors and framework errors turned into the documented HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from dnis_service.domain.errors import (
    DATABASE_DOWN,
    DATABASE_UNAVAILABLE,
    TEXT_WITH_NUL,
    TEXT_WITH_NUL_MESSAGE,
    Conflict,
    DnisError,
    DuplicatePhones,
    Forbidden,
    ImportTooLarge,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PasswordAttemptsThrottled,
    PasswordChecksBusy,
    PoolExhausted,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(message, status_code=status, media_type=MediaType.TEXT, headers=headers)


def _status_of(error: DnisError) -> int:
    if isinstance(error, InvalidInput):
        return HTTP_400_BAD_REQUEST
    if isinstance(error, NotFound):
        return HTTP_404_NOT_FOUND
    if isinstance(error, Conflict):
        return HTTP_409_CONFLICT
    if isinstance(error, PoolExhausted | Forbidden):
        return HTTP_403_FORBIDDEN
    if isinstance(error, ImportTooLarge):
        return HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(error, PasswordChecksBusy):
        return HTTP_503_SERVICE_UNAVAILABLE
    return HTTP_500_INTERNAL_SERVER_ERROR


def _retry_after(error: DnisError) -> dict[str, str] | None:
    if isinstance(error, PoolExhausted | PasswordChecksBusy):
        return {"Retry-After": str(error.RETRY_AFTER_SECONDS)}
    return None


def _unauthenticated_body(request: Request[Any, Any, Any], message: str) -> dict[str, str]:
    return {"code": "0x7000000", "message": message, "moreInfoUrl": request.app.state.settings.more_info_url}


def unauthenticated(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, NotAuthenticated)
    log.info("unauthenticated path=%s reason=%s", request.url.path, error.reason)
    return Response(_unauthenticated_body(request, error.message), status_code=HTTP_401_UNAUTHORIZED,
                    headers={"Unauthenticated-Reason": error.reason})


def password_attempts_throttled(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The 401's shape with its own message and status, and when to try again."""
    assert isinstance(error, PasswordAttemptsThrottled)
    log.info("password attempts throttled path=%s retry_after=%d", request.url.path, error.retry_after_seconds)
    headers = {"Retry-After": str(error.retry_after_seconds),
               "Unauthenticated-Reason": "too many failed password attempts for this user"}
    return Response(_unauthenticated_body(request, error.message), status_code=HTTP_429_TOO_MANY_REQUESTS,
                    headers=headers)


def domain_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, DnisError)
    if isinstance(error, DuplicatePhones):
        return Response({"message": error.message, "duplicates": error.duplicates}, status_code=HTTP_409_CONFLICT)
    return _text(_status_of(error), error.message, _retry_after(error))


def admin_domain_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The operator API speaks JSON, errors included."""
    assert isinstance(error, DnisError)
    return Response({"message": error.message}, status_code=_status_of(error), headers=_retry_after(error))


def problem_text(error: HTTPException) -> str:
    """Name the offending field: 'timeoutSeconds: Expected `int` >= 1'."""
    problems = error.extra if isinstance(error.extra, list) else []
    for problem in problems:
        if isinstance(problem, dict) and problem.get("key") and problem.get("message"):
            if problem["key"] == "data":
                return f"body: {_body_problem(problem['message'])}"
            return f"{problem['key']}: {problem['message']}"
    return f"body: {error.detail}"


def validation_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    assert isinstance(error, HTTPException)
    return _text(HTTP_400_BAD_REQUEST, problem_text(error))


def _body_problem(message: str) -> str:
    return "is required" if message == "'data'" else message


def database_unavailable(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.warning("database unavailable path=%s error=%s", request.url.path, type(error).__name__)
    return _text(HTTP_503_SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE, {"Retry-After": "2"})


def text_with_nul_as(answer: Handler) -> dict[type[Exception] | int, Handler]:
    """Handlers of PostgreSQL's refusal of a NUL character, answering it as `answer` answers invalid
    input: each API in its own shape (text, the interactions API's JSON, the operator API's JSON)."""

    def text_with_nul(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        return answer(request, InvalidInput(f"body: {TEXT_WITH_NUL_MESSAGE}"))

    return dict.fromkeys(TEXT_WITH_NUL, text_with_nul)


def exception_handlers() -> dict[type[Exception] | int, Handler]:
    handlers: dict[type[Exception] | int, Handler] = {
        NotAuthenticated: unauthenticated,
        PasswordAttemptsThrottled: password_attempts_throttled,
        DnisError: domain_error,
        ValidationException: validation_error,
        HTTP_400_BAD_REQUEST: validation_error,  # malformed JSON and other body errors
    }
    for error_type in DATABASE_DOWN:
        handlers[error_type] = database_unavailable
    return handlers | text_with_nul_as(domain_error)
