"""Data access of links: an account linked to a debtor of a régie, after a successful claim."""

from __future__ import annotations

from dataclasses import dataclass

from espace_famille.dal import keys
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
from espace_famille.model import link_id as make_link_id


@dataclass(frozen=True)
class Link:
    account_id: str
    link_id: str
    collectivite_id: str
    regie_id: str
    debtor_id: str
    debtor_name: str
    linked_at: str
    # The names the parent reads, as they were when the link was made, so that a listing needs no lookup;
    # None on links made before they were kept there.
    collectivite_name: str | None = None
    regie_name: str | None = None


def _from(item: Item) -> Link:
    return Link(
        account_id=item["account_id"],
        link_id=item["link_id"],
        collectivite_id=item["collectivite_id"],
        regie_id=item["regie_id"],
        debtor_id=item["debtor_id"],
        debtor_name=item["debtor_name"],
        linked_at=item["linked_at"],
        collectivite_name=item.get("collectivite_name"),
        regie_name=item.get("regie_name"),
    )


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
    item = {
        **keys.link(link.account_id, link.link_id),
        **keys.link_gsi1(link.collectivite_id, link.regie_id, link.debtor_id, link.account_id),
        "account_id": link.account_id,
        "link_id": link.link_id,
        "collectivite_id": link.collectivite_id,
        "regie_id": link.regie_id,
        "debtor_id": link.debtor_id,
        "debtor_name": link.debtor_name,
        "linked_at": link.linked_at,
        "collectivite_name": link.collectivite_name,
        "regie_name": link.regie_name,
    }
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
