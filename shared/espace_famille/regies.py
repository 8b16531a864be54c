"""Operations' check of the régies: each PayFiP régie's numcli confirmed by PayFiP, its configuration shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from espace_famille.config import payfip_saisie, settings
from espace_famille.dal import regies as store
from espace_famille.model import Regie
from espace_famille.payfip import ProviderUnavailable


class ClientInfo(Protocol):
    def client_info(self, numcli: str) -> dict[str, str | None]: ...


@dataclass(frozen=True)
class RegieCheck:
    regie: Regie
    outcome: str  # known | unknown | unreachable | not_payfip | no_numcli
    detail: str
    saisie: str  # the mode payments will use on this stack


def check(provider: ClientInfo, collectivite_id: str | None = None) -> list[RegieCheck]:
    found = store.of_collectivite(collectivite_id) if collectivite_id else store.every()
    stack_mode = settings().payfip_mode
    out = []
    for regie in found:
        options = regie.payment_options
        saisie = payfip_saisie(options.get("saisie", "T"), stack_mode)
        if regie.payment_backend != "payfip":
            out.append(RegieCheck(regie, "not_payfip", f"paiement « {regie.payment_backend} »", saisie))
            continue
        numcli = options.get("numcli", "")
        if not numcli:
            out.append(RegieCheck(regie, "no_numcli", "pas de numcli dans le fichier de régie", saisie))
            continue
        try:
            info = provider.client_info(numcli)
        except ProviderUnavailable as exc:
            # PayFiP answers a business fault (FonctionnelleErreur) for a numcli it does not know.
            outcome = "unknown" if exc.kind == "FonctionnelleErreur" else "unreachable"
            out.append(RegieCheck(regie, outcome, str(exc), saisie))
            continue
        labels = " / ".join(v for k in ("libelleN1", "libelleN2", "libelleN3") if (v := info.get(k)))
        out.append(RegieCheck(regie, "known", labels, saisie))
    return out
