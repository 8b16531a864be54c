"""One pydantic model per kind of imported row: what each field may hold, and French reasons when it may not."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from espace_famille import text
from espace_famille.model import (
    PAID_EXTERNALLY,
    Collectivite,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    NewsItem,
    Regie,
    invoice_id,
    key_digest,
    news_id,
)

KINDS = ("collectivite", "regie", "invoice", "invoice_line", "news")
# Kinds whose text may hold line breaks (a news body): in CSV, a quoted field of theirs may span lines.
MULTILINE_KINDS = ("news",)
# Eopayment backends a régie may name; "none" leaves a régie without online payment.
PAYMENT_BACKENDS = ("payfip", "tipi", "payzen", "systempayv2", "paybox", "mollie", "sips2", "none")
_SECRET_WORDS = ("secret", "password", "passwd", "key", "cle", "token", "signature")


class FieldError(ValueError):
    """A reason that concerns one field, raised where pydantic does not know the field (model checks)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("texte attendu")
    return value


def _line(max_len: int) -> Any:
    """Imported one-line text (a name, a label): kept as written, less what is invisible (text.visible)."""

    def check(value: Any) -> str:
        out = text.visible(_str(value)).strip()
        if not out:
            raise ValueError("valeur manquante")
        if len(out) > max_len:
            raise ValueError(f"trop long (au plus {max_len} caractères)")
        return out

    return BeforeValidator(check)


def _code(value: Any) -> str:
    out = text.compact_upper(_str(value))
    if not out:
        raise ValueError("valeur manquante")
    if not text.CODE_RE.match(out):
        raise ValueError("identifiant invalide (lettres, chiffres, - et _, 32 caractères au plus)")
    return out


def _reference(value: Any) -> str:
    out = text.compact_upper(_str(value))
    if not out:
        raise ValueError("valeur manquante")
    if not text.REFERENCE_RE.match(out):
        raise ValueError("référence invalide (lettres, chiffres, . / - ; 40 caractères au plus)")
    return out


def _key(value: Any) -> str:
    out = text.compact_upper(_str(value))
    if not out:
        raise ValueError("valeur manquante")
    if not text.KEY_RE.match(out):
        raise ValueError("clé invalide (lettres, chiffres, - et _ ; 64 caractères au plus)")
    return out


def _debtor_id(value: Any) -> str:
    out = _str(value).strip()
    if not text.DEBTOR_RE.match(out):
        raise ValueError("identifiant de débiteur invalide")
    return out


def _optional(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


Code = Annotated[str, BeforeValidator(_code)]
Reference = Annotated[str, BeforeValidator(_reference)]
SecretKey = Annotated[str, BeforeValidator(_key)]
DebtorId = Annotated[str, BeforeValidator(_debtor_id)]
Name = Annotated[str, _line(200)]
Day = Annotated[str, BeforeValidator(text.parse_date)]
Cents = Annotated[int, BeforeValidator(lambda v: text.parse_cents(v))]
SignedCents = Annotated[int, BeforeValidator(lambda v: text.parse_cents(v, allow_negative=True, allow_zero=True))]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectiviteRow(_Row):
    collectivite_id: Code
    name: Name

    def record(self) -> Collectivite:
        return Collectivite(self.collectivite_id, self.name)


def _options(value: Any) -> dict[str, str]:
    """`numcli=000001,saisie=T` in a CSV cell, or a JSON object."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            name, sep, val = part.partition("=")
            if not sep:
                raise ValueError(f"option illisible : « {part.strip()[:40]} » (attendu nom=valeur)")
            pairs[name.strip()] = val.strip()
        value = pairs
    if not isinstance(value, dict):
        raise ValueError("options attendues sous la forme nom=valeur,nom=valeur")
    out: dict[str, str] = {}
    for name, val in value.items():
        name = str(name).strip().lower()
        if not name or not name.replace("_", "").isalnum() or len(name) > 40:
            raise ValueError(f"nom d’option invalide : « {name[:40]} »")
        if any(word in name for word in _SECRET_WORDS):
            raise ValueError(f"l’option « {name} » est un secret : elle se configure dans SSM, pas dans un fichier")
        sval = _str(val).strip()
        if len(sval) > 200 or text.has_control(sval):
            raise ValueError(f"valeur invalide pour l’option « {name} »")
        out[name] = sval
    return out


class RegieRow(_Row):
    collectivite_id: Code
    regie_id: Code
    name: Name
    payment_backend: Annotated[str, BeforeValidator(lambda v: _str(v).strip().lower() or "none")]
    payment_options: Annotated[dict[str, str], BeforeValidator(_options)] = {}

    @model_validator(mode="after")
    def _backend(self) -> RegieRow:
        if self.payment_backend not in PAYMENT_BACKENDS:
            raise FieldError("payment_backend", f"moyen de paiement inconnu : « {self.payment_backend[:40]} »")
        if self.payment_backend in ("payfip", "tipi"):
            numcli = self.payment_options.get("numcli", "")
            if not (len(numcli) == 6 and numcli.isascii() and numcli.isdigit()):
                raise FieldError("payment_options", "PayFiP demande l’option numcli (6 chiffres)")
            if self.payment_options.get("saisie", "T") not in ("T", "X", "W"):
                raise FieldError("payment_options", "l’option saisie vaut T (test), X (activation) ou W (production)")
        return self

    def record(self) -> Regie:
        return Regie(self.collectivite_id, self.regie_id, self.name, self.payment_backend, dict(self.payment_options))


# What billing software writes for a status, accents and case aside (French first, then English).
STATUS_ALIASES = {
    InvoiceStatus.OPEN: ("ouverte", "ouvert", "en cours", "a payer", "impayee", "impaye", "open"),
    InvoiceStatus.PAID: ("payee", "paye", "reglee", "regle", "soldee", "solde", "paid"),
    InvoiceStatus.CANCELLED: ("annulee", "annule", "cancelled", "canceled"),
}
_STATUS = {alias: status for status, aliases in STATUS_ALIASES.items() for alias in aliases}


def _plain_lower(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.strip().lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).replace("_", " ").split())


def _status(value: Any) -> InvoiceStatus:
    out = _STATUS.get(_plain_lower(_str(value)))
    if out is None:
        raise ValueError("statut inconnu (attendu : open, paid ou cancelled, ou ouverte, payée, annulée)")
    return out


class InvoiceRow(_Row):
    collectivite_id: Code
    regie_id: Code
    reference: Reference
    key: SecretKey
    debtor_id: DebtorId
    debtor_name: Name
    issued_on: Day
    due_on: Day
    amount: Cents
    status: Annotated[str, BeforeValidator(_status)] = InvoiceStatus.OPEN
    paid_at: Annotated[
        str | None, BeforeValidator(lambda v: None if _optional(v) is None else text.parse_timestamp(v))
    ] = None

    @model_validator(mode="after")
    def _coherent(self) -> InvoiceRow:
        if self.due_on < self.issued_on:
            raise FieldError("due_on", "l’échéance précède la date de la facture")
        if self.status == InvoiceStatus.PAID and not self.paid_at:
            raise FieldError("paid_at", "une facture payée demande sa date de paiement (paid_at)")
        if self.status != InvoiceStatus.PAID and self.paid_at:
            raise FieldError("paid_at", "seule une facture payée a une date de paiement")
        return self

    def record(self) -> Invoice:
        return Invoice(
            collectivite_id=self.collectivite_id,
            regie_id=self.regie_id,
            reference=self.reference,
            key_digest=key_digest(invoice_id(self.collectivite_id, self.reference), self.key),
            debtor_id=self.debtor_id,
            debtor_name=self.debtor_name,
            issued_on=self.issued_on,
            due_on=self.due_on,
            amount_cents=self.amount,
            status=self.status,
            paid_at=self.paid_at,
            paid_by=PAID_EXTERNALLY if self.status == InvoiceStatus.PAID else None,
        )


def _quantity(value: Any) -> Decimal:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        quantity = Decimal(value)
    else:
        raw = _str(value).strip()
        if not re.fullmatch(r"\d+([.,]\d+)?", raw, re.ASCII):
            raise ValueError(f"quantité illisible : « {raw[:40]} »")
        quantity = Decimal(raw.replace(",", "."))
    # Bounds before quantize: a JSON number such as 1E+999999999 would overflow it.
    if not quantity.is_finite() or quantity <= 0 or quantity > 10000:
        raise ValueError("quantité hors limites (plus de 0 et au plus 10 000)")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise ValueError("quantité avec plus de trois décimales")
    return quantity.normalize() if quantity == quantity.to_integral() else quantity


def _line_no(value: Any) -> int:
    raw = _str(value).strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= 9999):
        raise ValueError("numéro de ligne entre 1 et 9999 attendu")
    return int(raw)


class InvoiceLineRow(_Row):
    collectivite_id: Code
    reference: Reference
    line_no: Annotated[int, BeforeValidator(_line_no)]
    label: Name
    quantity: Annotated[Decimal, BeforeValidator(_quantity)]
    unit_price: SignedCents
    amount: SignedCents

    @model_validator(mode="after")
    def _coherent(self) -> InvoiceLineRow:
        expected = self.quantity * self.unit_price
        if abs(expected - self.amount) > 1:
            raise FieldError("amount", "le montant de la ligne n’est pas quantité × prix unitaire")
        return self

    def record(self) -> InvoiceLine:
        return InvoiceLine(
            self.collectivite_id, self.reference, self.line_no, self.label, self.quantity, self.unit_price, self.amount
        )


def _body(value: Any) -> str:
    out = text.visible(_str(value), allow_newlines=True).strip().replace("\r\n", "\n")
    if not out:
        raise ValueError("valeur manquante")
    if len(out) > 5000:
        raise ValueError("trop long (au plus 5 000 caractères)")
    return out


class NewsRow(_Row):
    collectivite_id: Code
    news_id: Annotated[str | None, BeforeValidator(lambda v: None if _optional(v) is None else _code(v))] = None
    published_on: Day
    category: Annotated[str, _line(50)]
    title: Name
    body: Annotated[str, BeforeValidator(_body)]

    def record(self) -> NewsItem:
        nid = self.news_id or news_id(self.collectivite_id, self.published_on, self.title).upper()
        return NewsItem(self.collectivite_id, nid, self.published_on, self.category, self.title, self.body)


MODELS: dict[str, type[_Row]] = {
    "collectivite": CollectiviteRow,
    "regie": RegieRow,
    "invoice": InvoiceRow,
    "invoice_line": InvoiceLineRow,
    "news": NewsRow,
}
# Columns a CSV of each kind must have (the others are optional).
REQUIRED = {kind: [name for name, f in model.model_fields.items() if f.is_required()] for kind, model in MODELS.items()}
COLUMNS = {kind: list(model.model_fields) for kind, model in MODELS.items()}

Kind = Literal["collectivite", "regie", "invoice", "invoice_line", "news"]


def row_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, French reason) pairs of a failed row."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = loc[0] if loc else "ligne"
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            field, reason = cause.field, str(cause)
        elif err.get("type") in ("value_error", "assertion_error"):
            reason = str(cause if cause is not None else err.get("msg"))
        elif err.get("type") == "missing":
            reason = "valeur manquante"
        elif err.get("type") == "extra_forbidden":
            reason = "champ inconnu"
        else:
            reason = "valeur invalide"
        out.append((field, reason.removeprefix("Value error, ")))
    return out
