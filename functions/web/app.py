"""The parents' web page: HTML shells, CSS and JavaScript modules that talk to the JSON API with fetch."""

from __future__ import annotations

from pathlib import Path

from mangum import Mangum
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from espace_famille.headers import add_security_headers

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
STATIC = HERE / "static"


def _page(name: str) -> Route:
    async def endpoint(request: Request) -> Response:
        return FileResponse(PAGES / name, media_type="text/html; charset=utf-8")

    return endpoint  # type: ignore[return-value]


async def payment_return_post(request: Request) -> Response:
    # The provider may send the browser back by a form POST; a 303 turns it into the GET of the same page,
    # so that reloading the recap never re-posts a form.
    query = request.url.query
    return RedirectResponse("/paiement/retour" + (f"?{query}" if query else ""), status_code=303)


class SecurityHeaders:
    """Adds the portal's security headers to every answer; pages say no-store, assets revalidate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asset = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if asset:
                    headers.setdefault("Cache-Control", "no-cache")
                add_security_headers(headers, personal=not asset)
            await send(message)

        await self.app(scope, receive, send_with_headers)


app = Starlette(
    routes=[
        Route("/", _page("index.html")),
        Route("/paiement/retour", _page("index.html"), methods=["GET"]),
        Route("/paiement/retour", payment_return_post, methods=["POST"]),
        Route("/compte/confirmer", _page("index.html")),
        Route("/mot-de-passe/nouveau", _page("index.html")),
        Route("/mentions-legales", _page("mentions-legales.html")),
        Route("/accessibilite", _page("accessibilite.html")),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
)
app.add_middleware(SecurityHeaders)

handler = Mangum(app, lifespan="off")
