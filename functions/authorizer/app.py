"""Lambda REQUEST authorizer of the HTTP API (payload 2.0, simple responses): checks the session cookie.

On the path of every authenticated request, so it imports only what reads one item: no Powertools, no
boto3 (espace_famille.dal.wire signs its two DynamoDB calls itself).
"""

from __future__ import annotations

from typing import Any

from espace_famille.authorizer import authorize
from espace_famille.clock import system_clock
from espace_famille.config import Need, init

init(Need.TABLE)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize(event.get("cookies") or [], system_clock())
