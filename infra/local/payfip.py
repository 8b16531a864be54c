"""A local PayFiP: its SOAP service, its payment page and a control API that makes it misbehave on demand."""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib.resources
import json
import re
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from infra.local.net import open_connections, tcp_listener

PARIS = ZoneInfo("Europe/Paris")
SOAP_PATH = "/tpa/services/securite"
PAGE_PATH = "/tpa/paiementws.web"
NS = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
EXCEPTIONS = "fr.gouv.finances.cp.tpa.webservice.exceptions."
OPERATIONS = ("creerPaiementSecurise", "recupererDetailPaiementSecurise", "recupererDetailClient")
TECH_FAULTS = ("TechDysfonctionnementErreur", "TechIndisponibiliteErreur", "TechProtocolaireErreur")

WSDL_DIR = importlib.resources.files("eopayment") / "resource"
IDOP_LIFE = timedelta(minutes=15)  # the page accepts a payment this long after creation
FORGET_AFTER = timedelta(days=1)  # then an unpaid idop is P1 instead of P5 (PayFiP's nightly purge)
MAX_BODY = 64 * 1024

# Functional errors. A2, R3, P1 and P5 are what PayFiP answered in recorded exchanges (eopayment's test data);
# the other codes are this emulator's own: PayFiP's answer to those inputs was not recorded.
ERRORS: dict[str, str] = {
    "A2": "Adresse m\u00e9l incorrecte. ",
    "R3": "Le format du param\u00e8tre REFDET n'est pas conforme",
    "P1": "IdOp incorrect.",
    "P5": "R\u00e9sultat de la transaction non connu.",
    "N1": "Le format du param\u00e8tre NUMCLI n'est pas conforme",
    "N2": "Num\u00e9ro de client inconnu.",
    "E1": "Le format du param\u00e8tre EXER n'est pas conforme",
    "M1": "Le format du param\u00e8tre MONTANT n'est pas conforme",
    "M2": "Le montant doit \u00eatre compris entre 1 \u20ac et 100 000 \u20ac",
    "S1": "Le format du param\u00e8tre SAISIE n'est pas conforme",
    "O1": "Le format du param\u00e8tre OBJET n'est pas conforme",
    "U1": "Le format du param\u00e8tre URLNOTIF n'est pas conforme",
    "U2": "Le format du param\u00e8tre URLREDIRECT n'est pas conforme",
}
TECH_LABELS = {
    "TechDysfonctionnementErreur": ("T1", "Dysfonctionnement technique du service."),
    "TechIndisponibiliteErreur": ("T2", "Service momentan\u00e9ment indisponible."),
    "TechProtocolaireErreur": ("T3", "Erreur protocolaire."),
}

# The demo régies' numcli, plus the one of eopayment's recordings.
DEFAULT_CLIENTS: dict[str, tuple[str, str, str]] = {
    "000001": ("RR RESTAURATION SCOLAIRE", "JOLIEVILLE", "CANTINE"),
    "000002": ("RR GARDERIE", "JOLIEVILLE", "GARDERIE"),
    "000003": ("RR ACCUEIL DE LOISIRS", "JOLIEVILLE", "ALSH"),
    "090909": ("RR COMPOSTEURS INDIVIDUELS", "POUETPOUET", "COLLECTE VALORISATION DECHETS"),
}

NOTIFICATION_MODES = ("deliver", "drop", "repeat", "delay", "reorder")


class EmulatedFault(Exception):
    def __init__(self, kind: str, code: str, label: str) -> None:
        super().__init__(f"{kind} {code} {label}")
        self.kind, self.code, self.label = kind, code, label


def functional(code: str) -> EmulatedFault:
    return EmulatedFault("FonctionnelleErreur", code, ERRORS.get(code, "Erreur fonctionnelle."))


@dataclass
class EmulatorConfig:
    notifications: str = "deliver"
    repeat: int = 2
    delay_seconds: float = 1.0
    notify_field: str = "idOp"  # eopayment reads PayFiP's notification as the single field idOp
    fault: str | None = None  # a FonctionnelleErreur code (P5, A2…), a Tech* kind, or "http503"
    fault_operations: list[str] = field(default_factory=lambda: list(OPERATIONS))
    fault_times: int | None = None  # None: until changed
    soap_delay_seconds: float = 0.0
    clock_offset_seconds: float = 0.0


@dataclass
class EmulatedPayment:
    idop: str
    numcli: str
    exer: str
    refdet: str
    montant: str
    mel: str
    objet: str | None
    saisie: str
    urlnotif: str
    urlredirect: str
    created_at: datetime
    resultrans: str | None = None
    settled_at: datetime | None = None
    numauto: str | None = None

    def state(self, now: datetime) -> str:
        if self.resultrans:
            return {"P": "paid", "V": "paid", "R": "refused", "Z": "refused", "A": "abandoned"}[self.resultrans]
        if now - self.created_at >= FORGET_AFTER:
            return "forgotten"
        return "expired" if now - self.created_at >= IDOP_LIFE else "pending"

    def public(self, now: datetime) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["settled_at"] = self.settled_at.isoformat() if self.settled_at else None
        data["state"] = self.state(now)
        return data


class PayfipEmulator:
    """The emulator's state and its ASGI app (`.app`). Every time it reads is its own clock plus the offset."""

    def __init__(self, clients: dict[str, tuple[str, str, str]] | None = None) -> None:
        self._default_clients = {**DEFAULT_CLIENTS, **(clients or {})}
        self.clients = dict(self._default_clients)
        self.config = EmulatorConfig()
        self.payments: dict[str, EmulatedPayment] = {}
        self.notification_log: list[dict[str, Any]] = []
        self._held: list[EmulatedPayment] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=[
                Route(SOAP_PATH, self.soap, methods=["GET", "POST"]),
                Route("/tpa/services/{name:str}", self.schema, methods=["GET"]),
                Route(PAGE_PATH, self.page, methods=["GET", "POST"]),
                Route("/__emulator__/config", self.control_config, methods=["GET", "POST"]),
                Route("/__emulator__/reset", self.control_reset, methods=["POST"]),
                Route("/__emulator__/payments", self.control_payments, methods=["GET"]),
                Route("/__emulator__/pay", self.control_pay, methods=["POST"]),
                Route("/__emulator__/notifications", self.control_notifications, methods=["GET"]),
                Route("/__emulator__/flush", self.control_flush, methods=["POST"]),
            ]
        )

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.config.clock_offset_seconds)

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.config = EmulatorConfig()
        self.clients = dict(self._default_clients)
        self.payments.clear()
        self.notification_log.clear()
        self._held.clear()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()

    # -- SOAP --------------------------------------------------------------------------------------------
    async def soap(self, request: Request) -> Response:
        if request.method == "GET":
            if "wsdl" in {k.lower() for k in request.query_params}:
                # eopayment's copy of PayFiP's description, with this emulator's address.
                text = (WSDL_DIR / "PaiementSecuriseService.wsdl").read_text(encoding="utf-8")
                text = text.replace(
                    "https://www.payfip.gouv.fr/tpa/services/securite", str(request.url.replace(query=""))
                )
                return Response(text, media_type="text/xml; charset=utf-8")
            return Response("Service PayFiP (\u00e9mulateur) : POST SOAP 1.1 attendu.\n", media_type="text/plain")
        body = await request.body()
        try:
            operation, arguments = parse_soap(body)
        except ValueError as exc:
            return soap_fault("TechProtocolaireErreur", "T3", f"Requ\u00eate illisible : {exc}"[:200])
        if self.config.soap_delay_seconds:
            await asyncio.sleep(self.config.soap_delay_seconds)
        injected = self._injected_fault(operation)
        if injected == "http503":
            return HTMLResponse("<html><body>Service Unavailable</body></html>", status_code=503)
        try:
            if injected:
                raise (
                    functional(injected)
                    if injected not in TECH_FAULTS
                    else EmulatedFault(injected, *TECH_LABELS[injected])
                )
            if operation == "creerPaiementSecurise":
                return soap_answer(operation, {"idOp": self._create(arguments)})
            if operation == "recupererDetailPaiementSecurise":
                return soap_answer(operation, self._detail(arguments.get("idOp") or ""))
            if operation == "recupererDetailClient":
                return soap_answer(operation, self._client_detail(arguments.get("numCli") or ""))
        except EmulatedFault as fault:
            return soap_fault(fault.kind, fault.code, fault.label)
        return soap_fault("TechProtocolaireErreur", "T3", f"Op\u00e9ration inconnue : {operation[:60]}")

    async def schema(self, request: Request) -> Response:
        """The XSD files the WSDL imports, next to it."""
        name = request.path_params["name"]
        if not re.fullmatch(r"PaiementSecuriseService_schema[0-9]\.xsd", name):
            return Response("Not Found", status_code=404)
        return Response((WSDL_DIR / name).read_text(encoding="utf-8"), media_type="text/xml; charset=utf-8")

    def _injected_fault(self, operation: str) -> str | None:
        config = self.config
        if not config.fault or operation not in config.fault_operations:
            return None
        if config.fault_times is not None:
            if config.fault_times <= 0:
                return None
            config.fault_times -= 1
        return config.fault

    def _create(self, a: dict[str, str]) -> str:
        # The order of the checks follows the recordings: a bad mel is reported before a bad montant.
        numcli = a.get("numcli") or ""
        if not re.fullmatch(r"[0-9]{6}", numcli):
            raise functional("N1")
        if numcli not in self.clients:
            raise functional("N2")
        if not re.fullmatch(r"[0-9]{4}", a.get("exer") or ""):
            raise functional("E1")
        mel = a.get("mel") or ""
        if not (6 <= len(mel) <= 80 and re.fullmatch(r"[^@\s]+@[^@\s]+", mel)):
            raise functional("A2")
        refdet = a.get("refdet") or ""
        if not re.fullmatch(r"[A-Za-z0-9]{6,30}", refdet):
            raise functional("R3")
        montant = a.get("montant") or ""
        if not re.fullmatch(r"[0-9]{1,12}", montant):
            raise functional("M1")
        if not 100 <= int(montant) <= 10_000_000:
            raise functional("M2")
        if a.get("saisie") not in ("T", "X", "W"):
            raise functional("S1")
        objet = a.get("objet")
        if objet is not None and not re.fullmatch(r"[A-Za-z0-9 ]{0,100}", objet):
            raise functional("O1")
        for name, code in (("urlnotif", "U1"), ("urlredirect", "U2")):
            if not re.fullmatch(r"https?://[^\s]{1,250}", a.get(name) or ""):
                raise functional(code)
        idop = str(uuid.uuid1())
        self.payments[idop] = EmulatedPayment(
            idop=idop,
            numcli=numcli,
            exer=a["exer"],
            refdet=refdet,
            montant=montant,
            mel=mel,
            objet=objet or None,
            saisie=a["saisie"],
            urlnotif=a["urlnotif"],
            urlredirect=a["urlredirect"],
            created_at=self.now(),
        )
        return idop

    def _detail(self, idop: str) -> dict[str, str | None]:
        payment = self.payments.get(idop)
        if payment is None:
            raise functional("P1")
        state = payment.state(self.now())
        if state == "forgotten":
            raise functional("P1")
        if payment.resultrans is None or payment.settled_at is None:
            raise functional("P5")
        paris = payment.settled_at.astimezone(PARIS)
        return {
            "dattrans": paris.strftime("%d%m%Y"),
            "exer": payment.exer,
            "heurtrans": paris.strftime("%H%M"),
            "idOp": payment.idop,
            "mel": payment.mel,
            "montant": payment.montant,
            "numauto": payment.numauto,
            "numcli": payment.numcli,
            "objet": payment.objet,
            "refdet": payment.refdet,
            "resultrans": payment.resultrans,
            "saisie": payment.saisie,
        }

    def _client_detail(self, numcli: str) -> dict[str, str | None]:
        if not re.fullmatch(r"[0-9]{6}", numcli):
            raise functional("N1")
        labels = self.clients.get(numcli)
        if labels is None:
            raise functional("N2")
        return {"libelleN1": labels[0], "libelleN2": labels[1], "libelleN3": labels[2], "numcli": numcli}

    # -- settling and notifying ------------------------------------------------------------------------
    def settle(self, idop: str, resultrans: str) -> EmulatedPayment:
        payment = self.payments[idop]
        payment.resultrans = resultrans
        payment.settled_at = self.now()
        if resultrans in ("P", "V"):
            payment.numauto = f"{secrets.randbelow(10**12):012d}-tip"
        return payment

    async def notify(self, payment: EmulatedPayment) -> None:
        """Sends the notification as the switches say; 'deliver' and 'repeat' wait for the answers."""
        mode = self.config.notifications
        if mode == "drop":
            self._log(payment, "dropped")
        elif mode == "delay":
            self._background(self._post_later(payment, self.config.delay_seconds))
        elif mode == "reorder":
            self._held.append(payment)
            self._log(payment, "held")
        elif mode == "repeat":
            await asyncio.gather(*(self._post(payment) for _ in range(max(1, self.config.repeat))))
        else:
            await self._post(payment)

    async def flush(self) -> int:
        """Sends the held notifications, newest first."""
        held, self._held = self._held[::-1], []
        for payment in held:
            await self._post(payment)
        return len(held)

    async def _post_later(self, payment: EmulatedPayment, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._post(payment)

    async def _post(self, payment: EmulatedPayment) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30)
        try:
            answer = await self._http.post(payment.urlnotif, data={self.config.notify_field: payment.idop})
            self._log(payment, "sent", status=answer.status_code)
        except httpx.HTTPError as exc:
            self._log(payment, "failed", error=f"{type(exc).__name__}: {exc}")

    def _log(self, payment: EmulatedPayment, outcome: str, **extra: Any) -> None:
        self.notification_log.append(
            {"idop": payment.idop, "url": payment.urlnotif, "outcome": outcome, "at": self.now().isoformat(), **extra}
        )

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the payment page ------------------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        form: dict[str, str] = {}
        if request.method == "POST":
            body = await request.body()
            if len(body) > MAX_BODY:
                return page_html("Requête trop longue", "<p>La requête est trop longue.</p>", 413)
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
        idop = request.query_params.get("idop") or form.get("idop") or ""
        payment = self.payments.get(idop)
        if payment is None:
            return page_html("Opération inconnue", "<p>Cette opération de paiement est inconnue.</p>", 404)
        state = payment.state(self.now())
        if state != "pending":
            text = {
                "expired": "Le délai de paiement est dépassé : revenez sur le site de votre collectivité.",
                "forgotten": "Le délai de paiement est dépassé : revenez sur le site de votre collectivité.",
            }.get(state, "Cette opération de paiement est déjà terminée.")
            return page_html("Paiement impossible", f"<p>{html.escape(text)}</p>", 410 if "dépassé" in text else 409)
        if request.method == "GET":
            return page_html("Paiement sécurisé", payment_form(payment))
        resultrans = form.get("resultrans", "")
        if resultrans not in ("P", "R", "A"):
            return page_html("Choix invalide", "<p>Choisissez Payer, Refuser ou Abandonner.</p>", 400)
        self.settle(idop, resultrans)
        await self.notify(payment)
        return RedirectResponse(with_idop(payment.urlredirect, idop), status_code=303)

    # -- control API ---------------------------------------------------------------------------------------
    async def control_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                self.configure(changes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({**asdict(self.config), "clients": self.clients})

    def configure(self, changes: dict[str, Any]) -> None:
        if not isinstance(changes, dict):
            raise ValueError("a JSON object is expected")
        changes = dict(changes)
        clients = changes.pop("clients", None)
        known = set(EmulatorConfig.__dataclass_fields__)
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        mode = changes.get("notifications", self.config.notifications)
        if mode not in NOTIFICATION_MODES:
            raise ValueError(f"notifications: one of {NOTIFICATION_MODES}")
        fault = changes.get("fault", self.config.fault)
        if fault is not None and not (fault in TECH_FAULTS or fault == "http503" or fault in ERRORS):
            raise ValueError(f"fault: a code of {sorted(ERRORS)}, one of {TECH_FAULTS}, http503 or null")
        operations = changes.get("fault_operations", self.config.fault_operations)
        if not set(operations) <= set(OPERATIONS):
            raise ValueError(f"fault_operations: among {OPERATIONS}")
        for name, value in changes.items():
            setattr(self.config, name, value)
        if "fault" in changes and "fault_operations" not in changes:
            self.config.fault_operations = list(OPERATIONS)
        if "fault" in changes and "fault_times" not in changes:
            self.config.fault_times = None
        if clients:
            for numcli, labels in clients.items():
                self.clients[str(numcli)] = (str(labels[0]), str(labels[1]), str(labels[2]))

    async def control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"ok": True})

    async def control_payments(self, request: Request) -> Response:
        now = self.now()
        return JSONResponse([p.public(now) for p in self.payments.values()])

    async def control_notifications(self, request: Request) -> Response:
        return JSONResponse(self.notification_log)

    async def control_flush(self, request: Request) -> Response:
        return JSONResponse({"sent": await self.flush()})

    async def control_pay(self, request: Request) -> Response:
        """Settles a payment as the page would, at any age (a late payment), with or without notification."""
        try:
            data = json.loads(await request.body())
            idop, resultrans = str(data["idop"]), str(data["resultrans"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"idop": …, "resultrans": "P"}'}, status_code=400)
        if idop not in self.payments:
            return JSONResponse({"error": f"unknown idop {idop}"}, status_code=404)
        if resultrans not in ("P", "V", "R", "Z", "A"):
            return JSONResponse({"error": "resultrans: P, V, R, Z or A"}, status_code=400)
        if self.payments[idop].resultrans is not None:
            return JSONResponse({"error": f"{idop} is already settled"}, status_code=409)
        payment = self.settle(idop, resultrans)
        if data.get("notify", True):
            await self.notify(payment)
        else:
            self._log(payment, "not_sent")
        return JSONResponse(payment.public(self.now()))


# -- XML ---------------------------------------------------------------------------------------------------
def parse_soap(body: bytes) -> tuple[str, dict[str, str]]:
    """(operation, the arguments under arg0 by local name) of a SOAP 1.1 request."""
    if len(body) > MAX_BODY:
        raise ValueError("too long")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(str(exc)) from exc
    if root.getroottree().docinfo.doctype:
        raise ValueError("DTD refused")  # SOAP forbids them; entities are never expanded anyway
    found = root.find(f"{{{SOAP_ENV}}}Body")
    if found is None or len(found) == 0:
        raise ValueError("no SOAP body")
    call = found[0]
    operation = etree.QName(call).localname
    arguments: dict[str, str] = {}
    arg0 = next((child for child in call if etree.QName(child).localname == "arg0"), None)
    if arg0 is not None:
        for child in arg0:
            arguments[etree.QName(child).localname] = (child.text or "").strip()
    return operation, arguments


def soap_answer(operation: str, values: dict[str, str | None]) -> Response:
    # Shaped as PayFiP's own answers (JAX-WS): prefixes S and ns2, elements unqualified under <return>.
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in values.items() if v is not None)
    text = (
        f'<S:Envelope xmlns:S="{SOAP_ENV}">\n  <S:Body>\n'
        f'    <ns2:{operation}Response xmlns:ns2="{NS}">\n      <return>\n        {inner}\n      </return>\n'
        f"    </ns2:{operation}Response>\n  </S:Body>\n</S:Envelope>\n"
    )
    return Response(text.encode("utf-8"), media_type="text/xml; charset=utf-8")


def soap_fault(kind: str, code: str, label: str) -> Response:
    text = (
        f'<S:Envelope xmlns:S="{SOAP_ENV}">\n  <S:Body>\n'
        f'    <S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope">\n'
        f"      <faultcode>S:Server</faultcode>\n"
        f"      <faultstring>{EXCEPTIONS}{kind}</faultstring>\n"
        f"      <detail>\n"
        f'        <ns2:{kind} xmlns:ns2="{NS}">\n'
        f"          <code>{escape(code)}</code>\n          <descriptif/>\n"
        f"          <libelle>{escape(label)}</libelle>\n          <severite>2</severite>\n"
        f"        </ns2:{kind}>\n      </detail>\n    </S:Fault>\n  </S:Body>\n</S:Envelope>\n"
    )
    return Response(text.encode("ascii", "xmlcharrefreplace"), status_code=500, media_type="text/xml; charset=utf-8")


# -- HTML --------------------------------------------------------------------------------------------------
def euros(cents: int) -> str:
    whole, rest = divmod(cents, 100)
    return f"{whole:,}".replace(",", "\u202f") + f",{rest:02d}\u00a0\u20ac"


def payment_form(payment: EmulatedPayment) -> str:
    e = html.escape
    action = f"{PAGE_PATH}?{urlencode({'idop': payment.idop})}"
    return f"""
<p class="test">Émulateur local de PayFiP : aucune carte n’est débitée.</p>
<dl>
  <dt>Objet</dt><dd>{e(payment.objet or "")}</dd>
  <dt>Référence</dt><dd>{e(payment.refdet)}</dd>
  <dt>Montant</dt><dd id="montant">{e(euros(int(payment.montant)))}</dd>
  <dt>Adresse électronique</dt><dd>{e(payment.mel)}</dd>
</dl>
<form method="post" action="{e(action)}">
  <input type="hidden" name="idop" value="{e(payment.idop)}">
  <button type="submit" name="resultrans" value="P">Payer</button>
  <button type="submit" name="resultrans" value="R">Refuser</button>
  <button type="submit" name="resultrans" value="A">Abandonner</button>
</form>"""


def page_html(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)} – PayFiP</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:2rem auto}}.test{{color:#a00}}button{{margin-right:1rem}}</style>
</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"""
    return HTMLResponse(page, status_code=status)


def with_idop(url: str, idop: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("idop", idop)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- running it ----------------------------------------------------------------------------------------------
class EmulatorServer:
    """The emulator served by uvicorn on the running event loop (the local stack's), on its own port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = PayfipEmulator()
        self.host, self.port = host, port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def service_url(self) -> str:
        return self.url + SOAP_PATH

    @property
    def page_url(self) -> str:
        return self.url + PAGE_PATH

    async def start(self) -> None:
        sock = tcp_listener(self.host, self.port)
        self.url = f"http://{self.host}:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.emulator.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)

    def open_connections(self) -> list[Any]:
        """Sockets of the connections the emulator has accepted and not yet closed."""
        return open_connections(self._server) if self._server is not None else []

    async def stop(self) -> None:
        await self.emulator.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)


class PayfipHandle:
    """The emulator's control API from another thread (tests, tools): `stack.payfip`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.service_url = url + SOAP_PATH
        self.page_url = url + PAGE_PATH

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(timeout=60) as http:
            answer = http.request(method, self.url + path, json=body)
        if answer.status_code >= 400:
            raise RuntimeError(f"emulator {method} {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/__emulator__/config", changes)
        return result

    def reset(self) -> None:
        self._call("POST", "/__emulator__/reset")

    def payments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/__emulator__/payments")
        return result

    def payment(self, idop: str) -> dict[str, Any]:
        return next(p for p in self.payments() if p["idop"] == idop)

    def settle(self, idop: str, resultrans: str = "P", notify: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/__emulator__/pay", {"idop": idop, "resultrans": resultrans, "notify": notify}
        )
        return result

    def notifications(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/__emulator__/notifications")
        return result

    def flush(self) -> int:
        return int(self._call("POST", "/__emulator__/flush")["sent"])
