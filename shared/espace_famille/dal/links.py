"""Data access of links: an account linked to a debtor of a régie, after a successful claim."""

from __future__ import annotations

from espace_famille.dal import keys
from espace_famille.dal.mapping import RecordMapping
from espace_famille.dal.table import (
    Item,
    cancellation_reasons,
    client,
    get,
    is_condition_failure,
    query_all,
    table,
    to_ddb,
    transact,
    values,
)
from espace_famille.dal.wire import AwsError
from espace_famille.model import Link
from espace_famille.model import link_id as make_link_id

# The one mapping of a link (docs/data-model.md); its GSI1 entry lists the accounts linked to a debtor.
LINK = RecordMapping(
    Link,
    lambda lk: keys.link(lk.account_id, lk.link_id),
    indexes=lambda lk: keys.link_gsi1(lk.collectivite_id, lk.regie_id, lk.debtor_id, lk.account_id),
)
_from = LINK.from_item


def attributes(link: Link) -> Item:
    """What a link item holds, without its keys (the account's export)."""
    return LINK.attributes(link)


def of_account(account_id: str) -> list[Link]:
    return [
        _from(i)
        for i in query_all("PK = :pk AND begins_with(SK, :p)", values(pk=keys.account_partition(account_id), p="LINK#"))
    ]


def links_and_hidden(account_id: str) -> tuple[list[Link], dict[str, str]]:
    """The account's links and the invoices it hid (id -> when), in one Query of the account's partition.

    HIDDEN# sorts before LINK#, so one key range holds both; anything else between them is skipped. Both are
    small: a family's régies, and the invoices it chose to hide (a page of 1 MB holds thousands of flags).
    """
    links: list[Link] = []
    hidden: dict[str, str] = {}
    for item in query_all(
        "PK = :pk AND SK BETWEEN :lo AND :hi", values(pk=keys.account_partition(account_id), lo="HIDDEN#", hi="LINK$")
    ):
        kind, _, rest = item["SK"].partition("#")
        if kind == "LINK":
            links.append(_from(item))
        elif kind == "HIDDEN":
            hidden[rest] = item.get("hidden_at", "")
    return links, hidden


def find(account_id: str, cid: str, rid: str, did: str) -> Link | None:
    item = get(keys.link(account_id, make_link_id(cid, rid, did)))
    return _from(item) if item else None


class InvoiceChanged(Exception):
    """The claimed invoice no longer belongs to that debtor or no longer has a claimable status."""


def create(link: Link, invoice_id: str, statuses: tuple[str, ...] = ("open", "paid")) -> bool:
    """Links the account, if the claimed invoice still belongs to that debtor with one of `statuses`.

    False if already linked; InvoiceChanged if the invoice changed since it was read.
    """
    allowed = values(**{f"s{n}": s for n, s in enumerate(statuses)})
    item = LINK.to_item(link)
    try:
        transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": table(),
                        "Key": to_ddb(keys.invoice(invoice_id)),
                        "ConditionExpression": f"regie_id = :r AND debtor_id = :d AND #st IN ({', '.join(allowed)})",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {**values(r=link.regie_id, d=link.debtor_id), **allowed},
                    }
                },
                {
                    "Put": {
                        "TableName": table(),
                        "Item": to_ddb(item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    except AwsError as exc:
        # The invoice still names this debtor, and the link is there already.
        reasons = cancellation_reasons(exc)
        if reasons == ["None", "ConditionalCheckFailed"]:
            return False
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise InvoiceChanged() from exc
        raise
    return True


def delete(account_id: str, link_id: str) -> bool:
    try:
        client().delete_item(
            TableName=table(),
            Key=to_ddb(keys.link(account_id, link_id)),
            ConditionExpression="attribute_exists(PK)",
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
