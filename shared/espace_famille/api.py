"""HTTP plumbing of the API functions: the resolver, the request guard and the error envelope (the contract in docs/api.md)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille import sessions
from espace_famille.answers import ErrorAnswer
from espace_famille.config import settings
from espace_famille.errors import (
    BadOrigin,
    DomainError,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from espace_famille.headers import add_security_headers
from espace_famille.observability import count_api_outcome, logger, metrics, traced

MAX_BODY_BYTES = 64 * 1024
# No body of this API nests beyond 2 or 3 levels. A bound far below Python's recursion limit lets json.loads
# (here and again in Powertools, deeper in the stack) and pydantic run without ever hitting RecursionError.
MAX_JSON_DEPTH = 32
# application/json only, in any case (media types are case-insensitive), with at most a UTF-8 charset.
_JSON_TYPE = re.compile(r'^\s*application/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$', re.IGNORECASE)
_SIGNIFICANT = re.compile(r'[\[\]{}"\\]')
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

_FRENCH_REASONS = {
    "missing": "obligatoire",
    "extra_forbidden": "non autorisé",
    "string_too_short": "trop court",
    "string_too_long": "trop long",
    "string_type": "doit être un texte",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "bool_type": "doit être vrai ou faux",
    "list_type": "doit être une liste",
    "too_short": "trop peu d’éléments",
    "too_long": "trop d’éléments",
    "greater_than_equal": "trop petit",
    "less_than_equal": "trop grand",
    "greater_than": "trop petit",
    "less_than": "trop grand",
    "literal_error": "valeur non reconnue",
    "enum": "valeur non reconnue",
    "model_attributes_type": "doit être un objet JSON",
    "dict_type": "doit être un objet JSON",
    "string_pattern_mismatch": "format incorrect",
}


# The code and message an answer gets when something other than our handlers chose its status (Powertools).
_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Requête invalide."),
    401: (Unauthenticated.code, Unauthenticated.message),
    403: ("forbidden", "Accès refusé."),
    404: (NotFound.code, NotFound.message),
    405: ("method_not_allowed", "Méthode non autorisée pour cette adresse."),
    413: (PayloadTooLarge.code, PayloadTooLarge.message),
    415: (UnsupportedMediaType.code, UnsupportedMediaType.message),
    422: (ValidationFailed.code, ValidationFailed.message),
    500: ("internal_error", "Une erreur interne est survenue. Réessayez plus tard."),
    503: ("service_unavailable", "Le service est momentanément indisponible."),
}


def error_body(code: str, message: str) -> str:
    """The error envelope's JSON text (ErrorAnswer)."""
    return json.dumps(ErrorAnswer(error=code, message=message).model_dump(), ensure_ascii=False)


def envelope(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda proxy result carrying the error envelope; for answers given before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": error_body(code, message),
        "isBase64Encoded": False,
    }


def error_response(err: DomainError) -> Response[str]:
    return Response(
        status_code=err.status,
        content_type="application/json",
        body=error_body(err.code, err.message),
        headers=err.headers,
    )


def validation_message(errors: list[dict[str, Any]]) -> str:
    """A French sentence naming the fields that failed, from pydantic's error list."""
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "corps"
        if err.get("type") == "value_error":
            reason = str((err.get("ctx") or {}).get("error", err.get("msg", "")))
        else:
            reason = _FRENCH_REASONS.get(str(err.get("type")), "invalide")
        parts.append(f"« {field} » : {reason}")
    return "Données invalides — " + " ; ".join(parts) + "."


def make_resolver() -> APIGatewayHttpResolver:
    """The resolver every API function uses, with domain errors and validation mapped to the envelope.

    Validation is on for every function: it checks what comes in, and it is how Powertools serialises
    the answer models the handlers declare (espace_famille.answers) and knows each route's schema.
    """
    # An answer that does not fit its declared model is our bug: 500, not the 422 Powertools gives by default.
    app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)

    @app.exception_handler(RequestValidationError)
    def on_validation(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(InvalidJson())
        return error_response(ValidationFailed(validation_message(errors)))

    @app.exception_handler(ResponseValidationError)
    def on_bad_answer(exc: ResponseValidationError) -> Response[str]:
        logger.error("an answer does not fit its model", extra={"errors": [e.get("loc") for e in exc.errors()]})
        code, message = _STATUS_ERRORS[500]
        return Response(status_code=500, content_type="application/json", body=error_body(code, message))

    @app.exception_handler(DomainError)
    def on_domain_error(exc: DomainError) -> Response[str]:
        return error_response(exc)

    @app.exception_handler(RequestUnsupportedContentType)
    def on_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(UnsupportedMediaType())

    @app.exception_handler(ServiceError)
    def on_service_error(exc: ServiceError) -> Response[str]:
        code, message = _STATUS_ERRORS.get(exc.status_code, ("error", "Requête refusée."))
        return Response(status_code=exc.status_code, content_type="application/json", body=error_body(code, message))

    @app.not_found
    def on_not_found(exc: Exception) -> Response[str]:
        return error_response(NotFound())

    return app


def no_content(cookies: list[Cookie] | None = None) -> Response[None]:
    """A 204: no body (lambda_handler_for sends it as ""), with the cookies to set, if any."""
    return Response(status_code=204, body=None, cookies=cookies)


def guard(event: dict[str, Any], check_origin: bool = True, json_only: bool = True) -> DomainError | None:
    """Rejects what must never reach a route: oversized or non-JSON bodies, foreign origins.

    Powertools validates the body before any middleware runs, so these checks come first, here. A body that
    passes is JSON of bounded depth, and its Content-Type is rewritten to the exact `application/json`
    that Powertools recognises (it compares case-sensitively, and answers anything else itself).
    `json_only=False` lets form bodies through (a provider's server-to-server notification).
    """
    http = (event.get("requestContext") or {}).get("http") or {}
    if str(http.get("method", "")).upper() not in _STATE_CHANGING:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    if check_origin and origin is not None and origin.rstrip("/") != _origin_of(site_url(event)):
        return BadOrigin()
    body = event.get("body")
    if body:
        size = len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode("utf-8"))
        if size > MAX_BODY_BYTES:
            return PayloadTooLarge()
        if not json_only:
            return None
        if event.get("isBase64Encoded") or not _JSON_TYPE.match(headers.get("content-type", "")):
            return UnsupportedMediaType()
        if json_depth(body) > MAX_JSON_DEPTH:
            return InvalidJson("Le corps de la requête est du JSON trop imbriqué.")
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return InvalidJson()
    if _JSON_TYPE.match(headers.get("content-type", "")):
        event["headers"] = {
            **{k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"},
            "content-type": "application/json",
        }
    return None


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, brackets inside strings aside.

    One pass over the characters that matter, without recursion or backtracking, whatever the text.
    """
    depth = deepest = 0
    in_string = False
    escaped = -1  # position of a character escaped by a backslash
    for match in _SIGNIFICANT.finditer(text):
        pos, char = match.start(), match.group()
        if pos == escaped:
            continue
        if in_string:
            if char == "\\":
                escaped = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def in_envelope(result: dict[str, Any]) -> dict[str, Any]:
    """The resolver's answer, with any error that is not already in the envelope put into it.

    Our handlers and exception handlers answer in the envelope; this catches whatever else Powertools may
    answer by itself (its own 404, 405, 415 or 422 shapes), so that no answer escapes the contract.
    """
    status = int(result.get("statusCode", 200))
    if status < 400:
        return result
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    if headers.get("content-type", "").lower().startswith("text/html"):
        return result  # a page of the web function
    try:
        body = json.loads(result.get("body") or "")
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and set(body) == {"error", "message"}:
        return result
    code, message = _STATUS_ERRORS.get(status, ("error", "Requête refusée."))
    logger.warning("answer put in the envelope", extra={"status": status, "code": code})
    kept = {k: v for k, v in (result.get("headers") or {}).items() if str(k).lower() != "content-type"}
    return {**result, **envelope(status, code, message, kept), "statusCode": status}


def site_url(event: dict[str, Any]) -> str:
    """The portal's public URL: the configured one, else the API's own domain as this request reached it."""
    configured = settings().site_url
    if configured:
        return configured
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    proto = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    domain = (event.get("requestContext") or {}).get("domainName") or headers.get("host", "")
    return f"{proto}://{domain}"


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def account_id(app: APIGatewayHttpResolver) -> str:
    """The account the session authorizer vouched for; handlers never read it from anywhere else."""
    ctx = app.current_event.request_context.authorizer.get_lambda or {}
    value = ctx.get("account_id")
    if not value:
        raise Unauthenticated()
    return str(value)


def client_ip(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.http.source_ip)


def session_cookie(token: str) -> Cookie:
    """The session cookie (docs/security.md); an empty token gives the cookie that clears it.

    `__Host-` prefixed, so Secure, Path=/ and no Domain are required by the browser itself; it lives as
    long as the session's absolute expiry (12 h).
    """
    return Cookie(
        name=sessions.COOKIE_NAME,
        value=token,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        max_age=int(sessions.ABSOLUTE.total_seconds()) if token else 0,
    )


def device_cookie(token: str) -> Cookie:
    """The device cookie a successful login leaves (180 days): this browser's own allowance of failed logins.

    SameSite=Strict: only the portal's own pages ever send it (to the login and password routes).
    """
    return Cookie(
        name=sessions.DEVICE_COOKIE_NAME,
        value=token,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.STRICT_MODE,
        max_age=int(sessions.DEVICE_LIFETIME.total_seconds()),
    )


def login_cookies(session_token: str, device_token: str | None) -> list[Cookie]:
    """The cookies a login or a confirmation sets: the session's, and a device cookie if a new one was made."""
    return [session_cookie(session_token)] + ([device_cookie(device_token)] if device_token else [])


def device_token(app: APIGatewayHttpResolver) -> str | None:
    """The browser's device cookie, if it sent one of the right shape."""
    return sessions.token_from_cookies(list(app.current_event.cookies or []), sessions.DEVICE_COOKIE_NAME)


def session_hash(app: APIGatewayHttpResolver) -> str | None:
    """The hash of the request's session, as the authorizer passed it (for logout and password change)."""
    value = (app.current_event.request_context.authorizer.get_lambda or {}).get("session")
    return str(value) if value else None


def session_hashes_in_cookies(app: APIGatewayHttpResolver) -> list[str]:
    """The hashes of the session tokens the request's cookies carry, on a public route (no authorizer)."""
    return [sessions.token_hash(t) for t in sessions.tokens_from_cookies(list(app.current_event.cookies or []))]


def lambda_handler_for(
    app: APIGatewayHttpResolver, check_origin: bool = True, json_only: bool = True
) -> Callable[..., dict[str, Any]]:
    """The Lambda entry point of an API function: guard, then resolve, with logging, tracing, metrics."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @traced
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        rejected = guard(event, check_origin, json_only)
        if rejected is not None:
            result = envelope(rejected.status, rejected.code, rejected.message, rejected.headers)
        else:
            result = in_envelope(app.resolve(event, context))
            if result.get("body") is None:
                result["body"] = ""  # a 204 declared as Response[None]: Powertools leaves its body None
            count_api_outcome(str(event.get("routeKey", "")), int(result.get("statusCode", 0)))
        # Every API answer is personal or may be: none is ever cached.
        add_security_headers(result.setdefault("headers", {}), personal=True)
        return result

    return handler
