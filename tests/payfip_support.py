"""The PayFiP emulator alone on a background event loop, with a receiver standing in for the portal's webhook."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from infra.local.payfip import EmulatorServer, PayfipEmulator, PayfipHandle


@dataclass
class Receiver:
    """Records what reaches it: the notifications PayFiP posts to urlnotif."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    async def endpoint(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.received.append({"path": request.url.path, "query": dict(request.query_params), "form": form})
        return PlainTextResponse("ok", status_code=self.status)


@dataclass
class EmulatorRun:
    handle: PayfipHandle
    emulator: PayfipEmulator
    receiver: Receiver

    @property
    def urlnotif(self) -> str:
        return self.receiver.url + "/webhooks/payfip"

    @property
    def urlredirect(self) -> str:
        return self.receiver.url + "/paiement/retour?payment=P123"


@contextmanager
def running_emulator() -> Iterator[EmulatorRun]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="payfip-emulator", daemon=True)
    thread.start()
    server = EmulatorServer()
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.endpoint, methods=["GET", "POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    receiver_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))

    tasks: list[asyncio.Task[Any]] = []

    async def start() -> None:
        await server.start()
        tasks.append(loop.create_task(receiver_server.serve(sockets=[sock])))
        while not receiver_server.started:
            await asyncio.sleep(0.02)

    async def stop() -> None:
        receiver_server.should_exit = True
        await server.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield EmulatorRun(PayfipHandle(server.url), server.emulator, receiver)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
