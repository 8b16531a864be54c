"""Listening sockets for the local servers, made so that asyncio turns Nagle off on every accepted connection."""

from __future__ import annotations

import socket
from typing import Any


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn's `serve(sockets=...)`.

    asyncio sets TCP_NODELAY on accepted connections only when the listening socket says IPPROTO_TCP; one
    created with protocol 0 (socket.socket's default) never gets it. uvicorn writes a response's headers
    and body apart, so Nagle plus the client's delayed ACK would hold each answer about 40 ms.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def open_connections(server: Any) -> list[Any]:
    """The sockets of a running uvicorn.Server's accepted connections (asyncio's TransportSocket wrappers)."""
    found = []
    for protocol in list(server.server_state.connections):
        transport = getattr(protocol, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            found.append(sock)
    return found
