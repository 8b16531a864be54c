"""The HTTP API's OpenAPI 3.1 document, generated from the handlers in template.yaml's route order (make openapi)."""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from espace_famille.model import OPAQUE_ID
from infra.cfn import Function, Route, Template, load_template

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"
SESSION_COOKIE = "__Host-ef_session"
SECURITY_SCHEME = "session"

# Success statuses beyond the one a route declares to Powertools: a handler that returns a Response may choose
# another at run time, which no signature shows.
SUCCESS: dict[str, tuple[int, ...]] = {
    # 200 when the account was already linked: the route declares its 201.
    "POST /api/claims": (201, 200),
}

# The errors the domain raises on a route, beyond those derived from the route itself (the request guard,
# validation, the authorizer, a path parameter): status -> error codes.
RATE_LIMITED = {429: ("rate_limited",)}
ERRORS: dict[str, dict[int, tuple[str, ...]]] = {
    "GET /api/health": {503: ("service_unavailable",)},
    "POST /api/session": {401: ("invalid_credentials",), **RATE_LIMITED},
    "POST /api/accounts": {**RATE_LIMITED},
    "POST /api/accounts/confirm": {400: ("invalid_token",)},
    "POST /api/password-resets": {**RATE_LIMITED},
    "POST /api/password-resets/confirm": {400: ("invalid_token",)},
    "DELETE /api/me": {401: ("invalid_credentials",), **RATE_LIMITED},
    "POST /api/me/password": {401: ("invalid_credentials",), **RATE_LIMITED},
    "POST /api/claims": {404: ("invoice_not_found",), **RATE_LIMITED},
    "POST /api/payments": {
        404: ("not_found",),
        409: ("payment_in_progress",),
        422: ("too_many_invoices", "several_regies", "not_payable", "amount_out_of_range"),
        503: ("provider_unavailable",),
    },
    "GET /api/payments/{payment_id}": {503: ("provider_unavailable",)},
    "POST /webhooks/payfip": {404: ("not_found",), 503: ("provider_unavailable",)},
}

# How a client goes from one answer to its next request (OpenAPI links, followed by stateful testing), by
# route and status: link name -> (target route, parameters, request body fields).
Link = tuple[str, dict[str, str], dict[str, Any] | None]
_LIST = "GET /api/invoices"
LINKS: dict[str, dict[int, dict[str, Link]]] = {
    "GET /api/me": {
        200: {
            "ClaimInKnownCollectivite": (
                "POST /api/claims",
                {},
                {"collectivite_id": "$response.body#/regies/0/collectivite_id"},
            )
        }
    },
    "POST /api/claims": {
        201: {"ListInvoices": (_LIST, {"view": "current"}, None)},
        200: {"ListInvoices": (_LIST, {"view": "current"}, None)},
    },
    _LIST: {
        200: {
            "InvoiceDetail": ("GET /api/invoices/{invoice_id}", {"invoice_id": "$response.body#/invoices/0/id"}, None),
            "PayInvoice": ("POST /api/payments", {}, {"invoice_ids": ["$response.body#/invoices/0/id"]}),
        }
    },
    "GET /api/invoices/{invoice_id}": {
        200: {"HideInvoice": ("PUT /api/invoices/{invoice_id}/hidden", {"invoice_id": "$response.body#/id"}, None)}
    },
    "PUT /api/invoices/{invoice_id}/hidden": {
        204: {
            "ShowInvoice": (
                "DELETE /api/invoices/{invoice_id}/hidden",
                {"invoice_id": "$request.path.invoice_id"},
                None,
            ),
            "HiddenInvoices": (_LIST, {"view": "hidden"}, None),
        }
    },
    "POST /api/payments": {
        201: {"PaymentDetail": ("GET /api/payments/{payment_id}", {"payment_id": "$response.body#/payment_id"}, None)}
    },
}

# Headers a success answer carries that a client relies on, by route and status: name -> description.
_SESSION_SET = "The session cookie (`__Host-ef_session`, HttpOnly, Secure, SameSite=Lax), and a device cookie when new."
HEADERS: dict[str, dict[int, dict[str, str]]] = {
    "POST /api/session": {200: {"Set-Cookie": _SESSION_SET}},
    "DELETE /api/session": {204: {"Set-Cookie": "The session cookie, cleared (Max-Age=0)."}},
    "POST /api/accounts/confirm": {204: {"Set-Cookie": _SESSION_SET}},
    "GET /api/me/export": {200: {"Content-Disposition": "An attachment: the browser saves the account's data."}},
}

_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_ERROR_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Refused",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Body not JSON",
    422: "Invalid data",
    429: "Too many attempts",
    500: "Internal error",
    503: "Unavailable",
}


def route_key(route: Route) -> str:
    return f"{route.method} {route.path}"


def _shape(path: str) -> str:
    """A path with its parameters unnamed, to pair the template's `{id}` with the handler's `<invoice_id>`."""
    return re.sub(r"\{[^}]+\}", "{}", path)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "eu-west-3", **env})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_function(function: Function) -> ModuleType:
    """Imports a function's module as Lambda would (its template environment), under a name of its own."""
    module_file, _, _ = function.handler.rpartition(".")
    path = function.code_uri / f"{module_file}.py"
    name = f"_openapi_{function.logical_id}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: pydantic resolves the module's postponed annotations through sys.modules.
    sys.modules[name] = module
    with _environment(function.environment):
        spec.loader.exec_module(module)
    return module


def api_routes(template: Template) -> list[tuple[Route, Any]]:
    """The template's routes served by a Powertools resolver (the JSON API), each with that resolver."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    found = []
    for route in template.routes:
        function = template.functions[route.function]
        module = load_function(function)
        resolver = getattr(module, "app", None)
        if isinstance(resolver, APIGatewayHttpResolver):
            found.append((route, resolver))
    return found


def _powertools_routes(resolver: Any) -> dict[tuple[str, str], Any]:
    return {(r.method.upper(), _shape(r.openapi_path)): r for r in resolver._static_routes + resolver._dynamic_routes}


def _error_schema(codes: tuple[str, ...]) -> dict[str, Any]:
    return {"allOf": [{"$ref": "#/components/schemas/ErrorAnswer"}, {"properties": {"error": {"enum": list(codes)}}}]}


def _gateway_schema(message: str) -> dict[str, Any]:
    return {"allOf": [{"$ref": "#/components/schemas/GatewayMessage"}, {"properties": {"message": {"const": message}}}]}


GATEWAY_MESSAGE = {
    "type": "object",
    "description": "What API Gateway answers by itself (the session authorizer's refusals, a function's crash).",
    "additionalProperties": False,
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


def _envelope() -> dict[str, Any]:
    """The error envelope's schema, from the model every error answer is built with."""
    from espace_famille.answers import ErrorAnswer

    return ErrorAnswer.model_json_schema(mode="serialization")


def _referenced(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_referenced(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node))
    return set()


def error_codes(route: Route, operation: dict[str, Any]) -> dict[int, tuple[str, ...]]:
    """Every error status our code answers on a route, with its codes: derived, then the route's own."""
    codes: dict[int, set[str]] = {500: {"internal_error"}}
    key = route_key(route)
    if route.method in _STATE_CHANGING:
        codes.setdefault(413, set()).add("payload_too_large")
        webhook = key.startswith("POST /webhooks/")
        if not webhook:  # a provider's form post: no Origin of ours, and not JSON (lambda_handler_for)
            codes.setdefault(403, set()).add("bad_origin")
            codes.setdefault(415, set()).add("unsupported_media_type")
            codes.setdefault(400, set()).add("invalid_json")
    params = operation.get("parameters") or []
    if "requestBody" in operation or any(p.get("in") == "query" for p in params):
        codes.setdefault(422, set()).add("validation_error")
    if any(p.get("in") == "path" for p in params):
        codes.setdefault(404, set()).add("not_found")
    for status, own in ERRORS.get(key, {}).items():
        codes.setdefault(status, set()).update(own)
    if 422 in codes or "requestBody" in operation:
        codes.setdefault(422, set()).add("validation_error")
    return {status: tuple(sorted(c)) for status, c in sorted(codes.items())}


def _error_response(status: int, codes: tuple[str, ...], protected: bool) -> dict[str, Any]:
    envelope = _error_schema(codes)
    listed = ", ".join(f"`{c}`" for c in codes)
    description = f"{_ERROR_TITLES.get(status, 'Error')}: {listed}."
    schema: dict[str, Any] = envelope
    gateway = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}
    if status == 500:
        schema = {"oneOf": [envelope, _gateway_schema(gateway[500])]}
        description += ' API Gateway\'s own `{"message": "Internal Server Error"}` when a function failed.'
    elif protected and status in (401, 403):
        schema = {"oneOf": [envelope, _gateway_schema(gateway[status])]}
        description += f' The session authorizer\'s `{{"message": "{gateway[status]}"}}` (API Gateway).'
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _authorizer_response(status: int) -> dict[str, Any]:
    message = {401: "Unauthorized", 403: "Forbidden"}[status]
    return {
        "description": (
            f"The session authorizer's answer (API Gateway): "
            f"{'no session cookie' if status == 401 else 'no valid session'}."
        ),
        "content": {"application/json": {"schema": _gateway_schema(message)}},
    }


def _operation(
    route: Route, function_dir: str, pt_route: Any, operation: dict[str, Any], operation_ids: dict[str, str]
) -> dict[str, Any]:
    """The template route's operation: Powertools' one, with the template's names, our statuses, errors and links."""
    op = copy.deepcopy(operation)
    key = route_key(route)
    op["operationId"] = pt_route.func.__name__
    op["summary"] = key
    doc = (pt_route.func.__doc__ or "").strip()
    if doc and "description" not in op:
        op["description"] = doc
    # The template's parameter names, in order (the handler may name them otherwise).
    names = re.findall(r"\{([^}+]+)\+?\}", route.path)
    path_params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
    for param, name in zip(path_params, names, strict=True):
        param["name"] = name
        schema = param.setdefault("schema", {})
        schema.pop("title", None)
        # Every id in a path is one of ours: anything else is answered 404 before any read.
        schema.setdefault("pattern", OPAQUE_ID.pattern)
    if key.startswith("POST /webhooks/") and "requestBody" not in op:
        op.setdefault("parameters", []).append(_idop("query"))
        op["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": _idop("form")}},
        }
    if not op.get("parameters"):
        op.pop("parameters", None)

    responses: dict[str, Any] = {}
    declared = _success_responses(key, pt_route, operation)
    for status, response in sorted(declared.items()):
        response = copy.deepcopy(response)
        if status == 204:
            response.pop("content", None)
            response["description"] = "Done; no body."
        elif response.get("description") in (None, "Successful Response"):
            response["description"] = "Success."
        links = LINKS.get(key, {}).get(status)
        if links:
            response["links"] = {
                name: _link(operation_ids[target], params, body) for name, (target, params, body) in links.items()
            }
        headers = HEADERS.get(key, {}).get(status)
        if headers:
            response["headers"] = {
                name: {"description": text, "required": True, "schema": {"type": "string"}}
                for name, text in headers.items()
            }
        responses[str(status)] = response
    protected = route.authorizer is not None
    for status, codes in error_codes(route, op).items():
        responses[str(status)] = _error_response(status, codes, protected)
    if protected:
        for status in (401, 403):
            responses.setdefault(str(status), _authorizer_response(status))
    op["responses"] = dict(sorted(responses.items()))
    op["security"] = [{SECURITY_SCHEME: []}] if protected else []
    op["tags"] = [function_dir]
    return op


def _success_responses(key: str, pt_route: Any, operation: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The route's success statuses: those it declares to Powertools, or SUCCESS's, with the declared schema."""
    declared = {int(s): r for s, r in (operation.get("responses") or {}).items() if 200 <= int(s) < 300}
    chose = pt_route.status_code != 200 or any(200 <= int(s) < 300 for s in pt_route.responses or {})
    statuses = SUCCESS.get(key)
    if statuses is None:
        return declared
    if chose and not set(declared) <= set(statuses):
        raise ValueError(f"{key} declares {sorted(declared)} but SUCCESS says {list(statuses)}: drop it from SUCCESS")
    default = next(iter(declared.values()))
    return {status: declared.get(status, default) for status in statuses}


def _link(operation_id: str, parameters: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": operation_id}
    if parameters:
        link["parameters"] = dict(parameters)
    if body is not None:
        link["requestBody"] = body
    return link


def _idop(where: str) -> dict[str, Any]:
    from espace_famille.payfip import _IDOP_RE

    idop = {
        "type": "string",
        "pattern": f"^{_IDOP_RE.pattern}$",
        "description": "PayFiP's operation id (the field's name in any case); any other value is a 422.",
    }
    if where == "query":
        return {"name": "idop", "in": "query", "required": False, "schema": idop}
    return {"type": "object", "properties": {"idop": idop}}


def build(template_path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The document: each API function's Powertools schema, merged in the order of the template's routes."""
    template = load_template(template_path, {"SiteUrl": "https://portail.example"})
    routes = api_routes(template)
    schemas: dict[str, Any] = {}
    operations: list[tuple[Route, Any, dict[str, Any]]] = []
    operation_ids: dict[str, str] = {}
    generated: dict[int, dict[str, Any]] = {}
    for route, resolver in routes:
        if id(resolver) not in generated:
            generated[id(resolver)] = json.loads(resolver.get_openapi_json_schema(openapi_version="3.1.0"))
        document = generated[id(resolver)]
        pt_routes = _powertools_routes(resolver)
        pt_route = pt_routes.get((route.method, _shape(route.path)))
        if pt_route is None:
            raise ValueError(f"{route_key(route)}: no handler in {route.function}'s resolver")
        operation = document["paths"][pt_route.openapi_path][route.method.lower()]
        operations.append((route, pt_route, operation))
        operation_ids[route_key(route)] = pt_route.func.__name__
        for name, schema in (document.get("components", {}).get("schemas") or {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two functions define the schema {name} differently")
            schemas[name] = schema
    served = {(r.method, _shape(r.path)) for r, _ in routes}
    for _, resolver in routes:
        for (method, shape), pt_route in _powertools_routes(resolver).items():
            if (method, shape) not in served:
                raise ValueError(f"{method} {pt_route.openapi_path} is handled but not a route of template.yaml")
    for table in (SUCCESS, ERRORS, LINKS, HEADERS):
        stale = set(table) - set(operation_ids)
        if stale:
            raise ValueError(f"{sorted(stale)}: not routes of the API any more; update infra/openapi.py")
    paths: dict[str, dict[str, Any]] = {}
    for route, pt_route, operation in operations:
        function_dir = template.functions[route.function].code_uri.name
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, function_dir, pt_route, operation, operation_ids
        )
    schemas.update({"ErrorAnswer": _envelope(), "GatewayMessage": GATEWAY_MESSAGE})
    # Powertools' own validation shapes are never answered (the envelope replaces them): keep what is used.
    used = _referenced(paths)
    while True:
        more = used | _referenced([schemas[name] for name in used if name in schemas])
        if more == used:
            break
        used = more
    schemas = {name: schema for name, schema in schemas.items() if name in used}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Espace Famille",
            "version": "1",
            "description": (
                "The parents' JSON API. Generated from the handlers by `make openapi`; the rules behind it are "
                "in docs/api.md. Errors of our code are `{error, message}`; API Gateway's own answers "
                "(the session authorizer's 401 and 403) are `{message}`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before one more attempt is allowed.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                }
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "The session cookie set by log-in or account confirmation, checked by the session authorizer.",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json is not the generated one")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
        if current != text:
            print("docs/openapi.json is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text, encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
