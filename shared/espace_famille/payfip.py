"""PayFiP (DGFiP's card payment service) over SOAP: the one module that imports eopayment and zeep."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import eopayment.payfip_ws as eopayfip
import requests
import zeep
import zeep.exceptions
import zeep.transports

from espace_famille.clock import PARIS

DEFAULT_SERVICE_URL = "https://www.payfip.gouv.fr/tpa/services/securite"
DEFAULT_PAGE_URL = "https://www.payfip.gouv.fr/tpa/paiementws.web"

# eopayment ships the service description (the published one names XSD files that cannot be fetched).
WSDL_PATH = Path(eopayfip.__file__).parent / "resource" / "PaiementSecuriseService.wsdl"
_NS = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"
_BINDING = f"{{{_NS}}}PaiementSecuriseServicePortBinding"
_REQUEST_NS = "http://securite.service.tpa.cp.finances.gouv.fr/requete"
_REPONSE_NS = "http://securite.service.tpa.cp.finances.gouv.fr/reponse"

FAULT_KINDS = (
    "FonctionnelleErreur",
    "TechDysfonctionnementErreur",
    "TechIndisponibiliteErreur",
    "TechProtocolaireErreur",
)
OUTCOMES = {"P": "paid", "V": "paid", "R": "refused", "Z": "refused", "A": "abandoned"}

# What PayFiP's own page puts in the idop it hands back: a UUID; the bound leaves room for a format change.
_IDOP_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_NUMCLI_RE = re.compile(r"[0-9]{6}")
_REFDET_RE = re.compile(r"[A-Za-z0-9]{6,30}")
MIN_AMOUNT_CENTS = 100
MAX_AMOUNT_CENTS = 10_000_000
OBJET_MAX = 100


class ProviderUnavailable(Exception):
    """PayFiP did not give a usable answer: network error, timeout, a SOAP fault, or an unexpected answer.

    `kind` and `code` name the SOAP fault when there was one (e.g. FonctionnelleErreur / A2), for the logs.
    """

    def __init__(self, message: str, *, kind: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


@dataclass(frozen=True)
class PayfipEndpoints:
    service_url: str = DEFAULT_SERVICE_URL
    page_url: str = DEFAULT_PAGE_URL

    @classmethod
    def from_env(cls) -> PayfipEndpoints:
        return cls(
            service_url=os.environ.get("PAYFIP_SERVICE_URL") or DEFAULT_SERVICE_URL,
            page_url=os.environ.get("PAYFIP_PAGE_URL") or DEFAULT_PAGE_URL,
        )


@dataclass(frozen=True)
class ProviderResult:
    """What PayFiP says of one idop. No clock here: what a lasting "not_yet" means is the domain's decision."""

    outcome: str  # paid | refused | abandoned | not_yet (fault P5) | unknown (fault P1)
    resultrans: str | None = None
    amount_cents: int | None = None
    refdet: str | None = None
    numcli: str | None = None
    paid_at: datetime | None = None
    numauto: str | None = None


@lru_cache(maxsize=4)
def _soap_client(timeout: float) -> zeep.Client:
    """Parsing the description costs tens of milliseconds: once per process and timeout."""
    transport = zeep.transports.Transport(timeout=timeout, operation_timeout=timeout)
    return zeep.Client(str(WSDL_PATH), transport=transport)


class PayfipClient:
    def __init__(self, endpoints: PayfipEndpoints, timeout: float = 10.0) -> None:
        self.endpoints = endpoints
        self._client = _soap_client(timeout)
        # eopayment 3.15 keeps service_url without using it: the address has to be bound here.
        self._service = self._client.create_service(_BINDING, endpoints.service_url)

    # -- operations ------------------------------------------------------------------------------------
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
        """Registers a payment at PayFiP and returns its idop.

        Arguments PayFiP would refuse raise ValueError before any call (the caller checks them first).
        Every fault, FonctionnelleErreur included, is ProviderUnavailable: nothing was created that could be paid.
        """
        _check_creation(numcli, exer, refdet, amount_cents, email, saisie)
        request_type = self._client.get_type(f"{{{_REQUEST_NS}}}CreerPaiementSecuriseRequest")
        answer = self._call(
            "creerPaiementSecurise",
            request_type(
                numcli=numcli,
                exer=str(exer),
                refdet=refdet,
                montant=str(amount_cents),
                mel=email,
                objet=eopayfip.normalize_objet(objet) or None,
                saisie=saisie,
                urlnotif=urlnotif,
                urlredirect=urlredirect,
            ),
        )
        # zeep unwraps a single-element answer: the idOp comes as a plain string.
        idop = answer.strip() if isinstance(answer, str) else _text(answer, "idOp")
        if not idop or not _IDOP_RE.fullmatch(idop):
            raise ProviderUnavailable(f"PayFiP answered creerPaiementSecurise without a usable idOp: {idop!r}")
        return idop

    def page_url(self, idop: str) -> str:
        base = self.endpoints.page_url
        return f"{base}{'&' if '?' in base else '?'}idop={quote(idop, safe='')}"

    def result(self, idop: str) -> ProviderResult:
        """recupererDetailPaiementSecurise: P5 (not paid yet) is not_yet, P1 (unknown idop) is unknown."""
        request_type = self._client.get_type(f"{{{_REPONSE_NS}}}RecupererDetailPaiementSecuriseRequest")
        try:
            answer = self._call("recupererDetailPaiementSecurise", request_type(idOp=idop))
        except ProviderUnavailable as exc:
            if exc.kind == "FonctionnelleErreur" and exc.code == "P5":
                return ProviderResult(outcome="not_yet")
            if exc.kind == "FonctionnelleErreur" and exc.code == "P1":
                return ProviderResult(outcome="unknown")
            raise
        if answer is None:
            raise ProviderUnavailable("PayFiP answered recupererDetailPaiementSecurise with nothing")
        return _result_from(idop, answer)

    def client_info(self, numcli: str) -> dict[str, str | None]:
        """recupererDetailClient: the régie's names as PayFiP knows them (an operations check)."""
        request_type = self._client.get_type(f"{{{_REPONSE_NS}}}RecupererDetailClientRequest")
        answer = self._call("recupererDetailClient", request_type(numCli=numcli))
        if answer is None:
            raise ProviderUnavailable("PayFiP answered recupererDetailClient with nothing")
        return {name: _text(answer, name) for name in ("numcli", "libelleN1", "libelleN2", "libelleN3")}

    def _call(self, operation: str, argument: Any) -> Any:
        try:
            return getattr(self._service, operation)(argument)
        except zeep.exceptions.Fault as fault:
            kind, code, label = fault_details(fault)
            raise ProviderUnavailable(
                f"PayFiP {operation}: {kind or 'fault'} {code or ''} {label or fault.message}".strip(),
                kind=kind,
                code=code,
            ) from fault
        except (zeep.exceptions.Error, requests.RequestException, ValueError) as exc:
            # zeep's errors cover answers that are not SOAP (an HTML error page, a truncated body).
            raise ProviderUnavailable(f"PayFiP {operation}: {type(exc).__name__}: {exc}") from exc


def fault_details(fault: zeep.exceptions.Fault) -> tuple[str | None, str | None, str | None]:
    """(kind, code, libelle) of a PayFiP fault: kind is FonctionnelleErreur or one of the Tech* errors."""
    kind = next((k for k in FAULT_KINDS if (fault.message or "").endswith(k)), None)
    code = label = None
    # zeep puts the raw body in `detail` when the answer was not a SOAP fault (an HTML error page).
    if fault.detail is not None and hasattr(fault.detail, "tag"):
        detail = eopayfip.clear_namespace(fault.detail)
        for element in detail:
            if element.tag in FAULT_KINDS:
                kind = element.tag
                code = (element.findtext("code") or "").strip() or None
                label = (element.findtext("libelle") or element.findtext("descriptif") or "").strip() or None
                break
    return kind, code, label


def _result_from(idop: str, answer: Any) -> ProviderResult:
    resultrans = _text(answer, "resultrans")
    outcome = OUTCOMES.get(resultrans or "")
    if outcome is None:
        raise ProviderUnavailable(f"PayFiP gave an unknown resultrans {resultrans!r} for {idop}")
    echoed = _text(answer, "idOp")
    if echoed is not None and echoed.lower() != idop.lower():
        raise ProviderUnavailable(f"PayFiP answered for idOp {echoed!r} when asked for {idop!r}")
    montant = _text(answer, "montant")
    if montant is not None and not (montant.isascii() and montant.isdigit()):
        raise ProviderUnavailable(f"PayFiP gave an unreadable montant {montant!r} for {idop}")
    return ProviderResult(
        outcome=outcome,
        resultrans=resultrans,
        amount_cents=int(montant) if montant is not None else None,
        refdet=_text(answer, "refdet"),
        numcli=_text(answer, "numcli"),
        paid_at=transaction_time(_text(answer, "dattrans"), _text(answer, "heurtrans")),
        numauto=_text(answer, "numauto"),
    )


def transaction_time(dattrans: str | None, heurtrans: str | None) -> datetime | None:
    """dattrans DDMMYYYY and heurtrans HHMM, Paris wall time, as an aware UTC datetime (None if unreadable).

    In the autumn's repeated hour the first (summer time) occurrence is taken: PayFiP does not say which.
    """
    if not dattrans or not heurtrans:
        return None
    if not (re.fullmatch(r"[0-9]{8}", dattrans) and re.fullmatch(r"[0-9]{4}", heurtrans)):
        return None
    try:
        local = datetime.strptime(dattrans + heurtrans, "%d%m%Y%H%M")
    except ValueError:
        return None
    return local.replace(tzinfo=PARIS).astimezone(UTC)


def _text(answer: Any, name: str) -> str | None:
    try:
        value = answer[name]
    except (KeyError, TypeError, AttributeError):
        return None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _check_creation(numcli: str, exer: int, refdet: str, amount_cents: int, email: str, saisie: str) -> None:
    if not _NUMCLI_RE.fullmatch(numcli):
        raise ValueError("numcli: 6 digits")
    if not 2000 <= exer <= 2999:
        raise ValueError("exer: a year")
    if not _REFDET_RE.fullmatch(refdet):
        raise ValueError("refdet: 6 to 30 letters or digits")
    if not MIN_AMOUNT_CENTS <= amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError("amount: 1 € to 100 000 €")
    if not (6 <= len(email) <= 80 and "@" in email):
        raise ValueError("email: 6 to 80 characters with an @")
    if saisie not in ("T", "X", "W"):
        raise ValueError("saisie: T, X or W")


def idop_from(params: Mapping[str, Any]) -> str | None:
    """The idop of a notification or a redirect (its name in any case), or None unless it looks like one."""
    found = [value for key, value in params.items() if isinstance(key, str) and key.lower() == "idop"]
    if len(found) != 1:
        return None  # absent, or several spellings that could disagree
    value = found[0]
    if isinstance(value, list | tuple):
        if len(value) != 1:
            return None
        value = value[0]
    if not isinstance(value, str) or not _IDOP_RE.fullmatch(value):
        return None
    return value


def objet_for(regie_name: str, references: list[str]) -> str:
    """The payment's object as PayFiP accepts it: ASCII letters, digits and spaces, at most 100 characters.

    The régie's name, then as many whole references as fit, then how many more there are.
    """
    name = eopayfip.normalize_objet(regie_name) or ""
    refs = [r for r in (eopayfip.normalize_objet(ref) for ref in references) if r]
    text = name[:OBJET_MAX]
    for i, ref in enumerate(refs):
        rest = len(refs) - i - 1
        tail = f" et {rest} autres" if rest else ""
        if len(f"{text} {ref}{tail}".strip()) <= OBJET_MAX:
            text = f"{text} {ref}".strip()
            continue
        more = f" et {len(refs) - i} autres"
        if len(text) + len(more) <= OBJET_MAX:
            text += more
        break
    return text.strip()[:OBJET_MAX]
