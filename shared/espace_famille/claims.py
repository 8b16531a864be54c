"""« Je ne trouve pas ma facture » : linking an account to a debtor of a régie with a paper invoice's triple.

The triple is the collectivité's id, the invoice reference and its key ("clé"), all printed at the bottom
right of the paper invoice. Parents type them by hand, so case and spaces are ignored (text.compact_upper).
A match links the account to that invoice's debtor in that régie: every past and future invoice of the
debtor in the régie shows from then on. Any wrong part gives the same answer, and failures are throttled.
Only an open or paid invoice can be claimed: a cancelled one is typically an invoice sent to the wrong family,
whose triple must not reveal the debtor's other invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from espace_famille import links, ratelimit
from espace_famille.answers import ClaimAnswer, RegieLink
from espace_famille.clock import iso
from espace_famille.dal import catalog
from espace_famille.dal import invoices as invoice_store
from espace_famille.dal import links as link_store
from espace_famille.errors import InvoiceNotFound
from espace_famille.model import InvoiceStatus, Link, invoice_id, key_matches, link_id
from espace_famille.text import CODE_RE, KEY_RE, REFERENCE_RE, compact_upper

CLAIMABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID)


@dataclass(frozen=True)
class ClaimResult:
    created: bool  # False: the account was already linked (nothing duplicated)
    regie: RegieLink
    invoices_found: int

    def answer(self) -> ClaimAnswer:
        return ClaimAnswer(regie=self.regie, invoices_found=self.invoices_found)


def claim(
    account_id: str, collectivite_id: str, reference: str, key: str, client_ip: str, now: datetime
) -> ClaimResult:
    # Reserved before the lookup (no race gets more guesses than the limit), given back on success.
    attempt = ratelimit.reserve(
        [(ratelimit.CLAIM_FAILURES_ACCOUNT, account_id), (ratelimit.CLAIM_FAILURES_IP, client_ip)], now
    )
    cid, ref, clean_key = compact_upper(collectivite_id), compact_upper(reference), compact_upper(key)
    invoice = None
    if CODE_RE.match(cid) and REFERENCE_RE.match(ref) and KEY_RE.match(clean_key):
        iid = invoice_id(cid, ref)
        invoice = invoice_store.get(iid)
        # Compared in constant time, and always compared when the invoice exists.
        if invoice is not None and not key_matches(invoice.key_digest, iid, clean_key):
            invoice = None
        if invoice is not None and invoice.status not in CLAIMABLE:
            invoice = None
    if invoice is None:
        raise InvoiceNotFound()
    attempt.release()
    # The names go on the link, so that listings read them with the link instead of looking them up.
    found = catalog.lookup(
        collectivites=[invoice.collectivite_id], regies=[(invoice.collectivite_id, invoice.regie_id)]
    )
    link = Link(
        account_id=account_id,
        link_id=link_id(invoice.collectivite_id, invoice.regie_id, invoice.debtor_id),
        collectivite_id=invoice.collectivite_id,
        regie_id=invoice.regie_id,
        debtor_id=invoice.debtor_id,
        debtor_name=invoice.debtor_name,
        linked_at=iso(now),
        collectivite_name=found.collectivite_name(invoice.collectivite_id),
        regie_name=found.regie_name(invoice.collectivite_id, invoice.regie_id),
    )
    try:
        created = link_store.create(link, invoice.invoice_id, CLAIMABLE)
    except link_store.InvoiceChanged:
        # Cancelled or handed to another debtor since it was read: as if it had never matched.
        raise InvoiceNotFound() from None
    count = invoice_store.count_of_debtor(invoice.collectivite_id, invoice.regie_id, invoice.debtor_id)
    return ClaimResult(created, links.describe([link])[0], count)
