"""The local API Gateway (HTTP API): routes from template.yaml, Lambda authorizer, payload 2.0 events."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import parse_qsl, unquote

from infra.cfn import LOCAL_ACCOUNT_ID, LOCAL_REGION, Route, Template
from infra.local.workers import FunctionPool, InvocationError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
LocalHandler = Callable[[str, str, bytes], Awaitable[tuple[int, Any]]]

API_ID = "local"
# API Gateway's HTTP API accepts up to 10 MB of payload.
MAX_BODY = 10 * 1024 * 1024
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript))(;.*)?$", re.IGNORECASE)


@dataclass
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str] | None  # None for $default
    params: list[str]
    priority: tuple[int, int, int, int]


def _compile(route: Route) -> _CompiledRoute:
    if route.path == "$default":
        return _CompiledRoute(route, None, [], (3, 0, 0, 0))
    parts = route.path.strip("/").split("/") if route.path != "/" else []
    regex = ""
    params: list[str] = []
    greedy = False
    literals = 0
    for part in parts:
        m = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", part)
        if m:
            params.append(m.group(1))
            if m.group(2):
                greedy = True
                regex += "/(.+)"
            else:
                regex += "/([^/]+)"
        else:
            literals += 1
            regex += "/" + re.escape(part)
    pattern = re.compile("^" + (regex or "/") + "$")
    # API Gateway prefers literal paths, then more literal segments, then fewer variables, greedy last;
    # for one path, a named method beats ANY.
    priority = (2 if greedy else (0 if not params else 1), -literals, len(params), 1 if route.method == "ANY" else 0)
    return _CompiledRoute(route, pattern, params, priority)


class Gateway:
    """An ASGI application standing in for API Gateway in front of the template's functions."""

    def __init__(
        self,
        template: Template,
        pools: dict[str, FunctionPool],
        local_routes: dict[tuple[str, str], LocalHandler] | None = None,
        access_log: IO[str] | None = sys.stderr,
    ) -> None:
        self.template = template
        self.pools = pools
        self.routes = sorted((_compile(r) for r in template.routes), key=lambda c: c.priority)
        self.local_routes = local_routes or {}
        self.access_log = access_log
        # False while the stack loads its demo data: nothing answers as if the portal were ready.
        self.ready = True

    # -- routing ---------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            if compiled.pattern is None:
                return compiled.route, {}
            m = compiled.pattern.match(path)
            if m:
                return compiled.route, dict(zip(compiled.params, m.groups(), strict=True))
        return None

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _send(send, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
                return
            if not message.get("more_body"):
                break
        status = await self._handle(scope, body, send)
        if self.access_log is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self.access_log.write(f"[gateway] {scope['method']} {scope['path']} {status} {elapsed:.0f}ms\n")
            self.access_log.flush()

    async def _handle(self, scope: Scope, body: bytes, send: Send) -> int:
        method: str = scope["method"].upper()
        path: str = scope["path"]
        local = self.local_routes.get((method, path)) or self._local_prefix(method, path)
        if local is not None:
            status, payload = await local(method, path, body)
            await _send(send, status, {"content-type": "application/json"}, json.dumps(payload).encode())
            return status
        if not self.ready:
            await _send(
                send,
                503,
                {"content-type": "application/json", "retry-after": "1"},
                b'{"message":"Service Unavailable: loading the demo data"}',
            )
            return 503
        # Routes match the path as sent, segment by segment: an encoded "/" (%2F) stays inside its segment
        # and reaches the handler decoded in pathParameters, as with API Gateway.
        raw_path = scope.get("raw_path", path.encode()).decode("latin-1").split("?")[0]
        matched = self.match(method, raw_path)
        if matched is None:
            await _send(send, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            return 404
        route, path_params = matched
        event = build_event(scope, body, route, path_params)
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            identity = self.template.authorizer_identity.get(route.authorizer, [])
            headers = event.get("headers", {})
            sources = [_identity_value(event, h) for h in identity]
            if any(v is None for v in sources):
                # API Gateway answers without invoking the authorizer when the identity source is absent.
                await _send(send, 401, {"content-type": "application/json"}, b'{"message":"Unauthorized"}')
                return 401
            auth_event = dict(event)
            auth_event.update(
                {
                    "type": "REQUEST",
                    "routeArn": (
                        f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{API_ID}/$default/{method}{path}"
                    ),
                    "identitySource": sources,
                }
            )
            auth_event["headers"] = headers
            try:
                verdict = await self.pools[route.authorizer].invoke(auth_event)
            except InvocationError as exc:
                self._log_error(route.authorizer, exc)
                await _send(send, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                return 500
            if not isinstance(verdict, dict) or not isinstance(verdict.get("isAuthorized"), bool):
                self._log_error(route.authorizer, InvocationError("AuthorizerConfigurationException", repr(verdict)))
                await _send(send, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                return 500
            if not verdict["isAuthorized"]:
                await _send(send, 403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
                return 403
            authorizer_context = verdict.get("context") or {}
            event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
        try:
            result = await self.pools[route.function].invoke(event, event["requestContext"]["requestId"])
        except InvocationError as exc:
            self._log_error(route.function, exc)
            await _send(send, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
            return 500
        status, headers, out = map_result(result)
        await _send(send, status, headers, out, event["requestContext"]["requestId"])
        return status

    def _local_prefix(self, method: str, path: str) -> LocalHandler | None:
        for (m, prefix), handler in self.local_routes.items():
            if m == method and prefix.endswith("/") and path.startswith(prefix):
                return handler
        return None

    def _log_error(self, function: str, exc: InvocationError) -> None:
        if self.access_log is not None:
            self.access_log.write(f"[gateway] {function} failed: {exc}\n{exc.trace}\n")
            self.access_log.flush()


def _identity_value(event: dict[str, Any], header: str) -> str | None:
    if header == "cookie":
        cookies = event.get("cookies")
        return "; ".join(cookies) if cookies else None
    value = event.get("headers", {}).get(header)
    return value if value else None


def build_event(scope: Scope, body: bytes, route: Route, path_params: dict[str, str]) -> dict[str, Any]:
    """An HTTP API payload 2.0 event, as API Gateway builds it."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 80)
    # API Gateway adds these; the site's own origin is derived from them when no SiteUrl is configured.
    headers["x-forwarded-for"] = (
        f"{headers['x-forwarded-for']}, {client[0]}" if "x-forwarded-for" in headers else client[0]
    )
    headers["x-forwarded-proto"] = scope.get("scheme", "http")
    headers["x-forwarded-port"] = str(server[1])
    now = datetime.now(UTC)
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    host = headers.get("host", "localhost")
    request_id = str(uuid.uuid4())
    method = scope["method"].upper()
    route_key = "$default" if route.path == "$default" else route.route_key
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0],
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": scope["path"],
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = {k: unquote(v) for k, v in path_params.items()}
    if body:
        content_type = headers.get("content-type", "")
        text = None
        if _TEXT_TYPES.match(content_type):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None:
            event["body"] = text
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def map_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Turns a payload 2.0 function result into an HTTP response, as API Gateway does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway infers the format: anything else is a 200 JSON body.
        body = result if isinstance(result, str) else json.dumps(result)
        return 200, {"content-type": "application/json"}, body.encode()
    status = int(result["statusCode"])
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ",".join(str(v) for v in values)
    raw_body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        out = base64.b64decode(raw_body)
    else:
        out = raw_body.encode() if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    cookies = [str(c) for c in result.get("cookies") or []]
    if cookies:
        headers["set-cookie"] = "\x00".join(cookies)  # split back into separate headers in _send
    return status, headers, out


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes, request_id: str | None = None) -> None:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        if name == "set-cookie":
            raw.extend((b"set-cookie", v.encode("latin-1")) for v in value.split("\x00"))
        elif name != "content-length":
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
    raw.append((b"content-length", str(len(body)).encode()))
    if request_id:
        raw.append((b"apigw-requestid", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
