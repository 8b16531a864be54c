"""PayFiP adapter (placeholder with the agreed interface until the adapter itself lands)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


class ProviderUnavailable(Exception):
    """Network error, timeout, technical SOAP fault or unexpected answer."""


@dataclass(frozen=True)
class PayfipEndpoints:
    service_url: str
    page_url: str

    @classmethod
    def from_env(cls) -> PayfipEndpoints:
        return cls(
            os.environ.get("PAYFIP_SERVICE_URL", "https://www.tipi.budget.gouv.fr/tpa/services/securite"),
            os.environ.get("PAYFIP_PAGE_URL", "https://www.payfip.gouv.fr/tpa/paiementws.web"),
        )


@dataclass(frozen=True)
class ProviderResult:
    outcome: str
    resultrans: str | None
    amount_cents: int | None
    refdet: str | None
    numcli: str | None
    paid_at: datetime | None
    numauto: str | None


class PayfipClient:
    def __init__(self, endpoints: PayfipEndpoints, timeout: float = 10.0) -> None:
        self.endpoints = endpoints
        self.timeout = timeout

    def create_payment(
        self,
        *,
        numcli: str,
        exer: int,
        refdet: str,
        amount_cents: int,
        email: str,
        objet: str,
        saisie: str,
        urlnotif: str,
        urlredirect: str,
    ) -> str:
        raise ProviderUnavailable("adapter not built yet")

    def page_url(self, idop: str) -> str:
        return f"{self.endpoints.page_url}?idop={idop}"

    def result(self, idop: str) -> ProviderResult:
        raise ProviderUnavailable("adapter not built yet")


_IDOP = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def idop_from(params: Mapping[str, str]) -> str | None:
    for name, value in params.items():
        if name.lower() == "idop" and isinstance(value, str) and _IDOP.match(value):
            return value
    return None


def objet_for(regie_name: str, references: list[str]) -> str:
    text = " ".join([regie_name, *references])
    return re.sub(r"[^A-Za-z0-9 ]", " ", text)[:100]
