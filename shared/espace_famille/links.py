"""The régies an account sees: its links to debtors, with the names a parent recognises."""

from __future__ import annotations

import time

from espace_famille.answers import RegieLink
from espace_famille.dal import catalog
from espace_famille.dal import links as link_store
from espace_famille.errors import NotFound
from espace_famille.model import OPAQUE_ID, Link

# How long a process keeps the collectivités and régies it read: what a listing shows of them (names, and
# whether a régie takes payments online) may lag a régie file's import by this much. Invoices themselves are
# always read where they live, and a payment's initiation reads its régie again (docs/benchmarks.md).
CATALOG_TTL_SECONDS = 60.0


def names(links: list[Link]) -> catalog.Found:
    """The collectivités and régies of these links: from this process's copy when it is recent, else in one
    batch (none when there is no link), so a warm listing makes no call for them."""
    if not links:
        return catalog.Found({})
    return catalog.lookup_recent(
        collectivites={lk.collectivite_id for lk in links},
        regies={(lk.collectivite_id, lk.regie_id) for lk in links},
        now=time.monotonic(),
        max_age=CATALOG_TTL_SECONDS,
    )


def forget_catalog() -> None:
    """Drops this process's copy of collectivités and régies (tests that change one and list at once)."""
    catalog.forget_recent()


class LinkNames:
    """The names of the links' collectivités and régies: those kept on the links, looked up only for older
    links made before the names were kept there (none: no call)."""

    def __init__(self, links: list[Link]) -> None:
        self._collectivites = {lk.collectivite_id: lk.collectivite_name for lk in links if lk.collectivite_name}
        self._regies = {(lk.collectivite_id, lk.regie_id): lk.regie_name for lk in links if lk.regie_name}
        self._found = names([lk for lk in links if lk.collectivite_name is None or lk.regie_name is None])

    def collectivite_name(self, cid: str) -> str:
        return self._collectivites.get(cid) or self._found.collectivite_name(cid)

    def regie_name(self, cid: str, rid: str) -> str:
        return self._regies.get((cid, rid)) or self._found.regie_name(cid, rid)


def describe(links: list[Link]) -> list[RegieLink]:
    """Links as GET /api/me shows them."""
    found = LinkNames(links)
    return [
        RegieLink(
            link_id=lk.link_id,
            collectivite_id=lk.collectivite_id,
            collectivite_name=found.collectivite_name(lk.collectivite_id),
            regie_id=lk.regie_id,
            regie_name=found.regie_name(lk.collectivite_id, lk.regie_id),
            debtor_name=lk.debtor_name,
        )
        for lk in sorted(links, key=lambda x: (x.collectivite_id, x.regie_id, x.debtor_id))
    ]


def regies(account_id: str) -> list[RegieLink]:
    return describe(link_store.of_account(account_id))


def unlink(account_id: str, link_id: str) -> None:
    if not OPAQUE_ID.match(link_id) or not link_store.delete(account_id, link_id):
        raise NotFound()
