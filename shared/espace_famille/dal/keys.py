"""Every key of the single table, in one place (the layout is documented in docs/data-model.md)."""

from __future__ import annotations

Key = dict[str, str]  # no import of the table module: the authorizer reads keys without boto3

GSI1 = "GSI1"
GSI2 = "GSI2"

# Sort-key prefixes of an invoice in its debtor's GSI1 partition, by status: a listing asks for one
# status with begins_with, and newest first by issued_on.
INVOICE_STATE_PREFIX = {"open": "O#", "paid": "P#", "cancelled": "X#"}


def health() -> Key:
    return {"PK": "HEALTH", "SK": "HEALTH"}


def collectivite(cid: str) -> Key:
    return {"PK": f"COLL#{cid}", "SK": "COLL"}


def regie(cid: str, rid: str) -> Key:
    return {"PK": f"COLL#{cid}", "SK": f"REGIE#{rid}"}


def debtor_partition(cid: str, rid: str, did: str) -> str:
    return f"DEBTOR#{cid}#{rid}#{did}"


def debtor(cid: str, rid: str, did: str) -> Key:
    return {"PK": debtor_partition(cid, rid, did), "SK": "DEBTOR"}


def invoice_partition(invoice_id: str) -> str:
    return f"INV#{invoice_id}"


def invoice(invoice_id: str) -> Key:
    return {"PK": invoice_partition(invoice_id), "SK": "INV"}


def invoice_line(invoice_id: str, line_no: int) -> Key:
    return {"PK": invoice_partition(invoice_id), "SK": f"LINE#{line_no:04d}"}


def invoice_gsi1(cid: str, rid: str, did: str, status: str, issued_on: str, reference: str) -> dict[str, str]:
    return {
        "GSI1PK": debtor_partition(cid, rid, did),
        "GSI1SK": invoice_state_sk(status, issued_on, reference),
    }


def account_partition(account_id: str) -> str:
    return f"ACCT#{account_id}"


ACCOUNT_SK = "ACCT"


def account(account_id: str) -> Key:
    return {"PK": account_partition(account_id), "SK": ACCOUNT_SK}


def email(normalised_email: str) -> Key:
    return {"PK": f"EMAIL#{normalised_email}", "SK": "EMAIL"}


def link(account_id: str, link_id: str) -> Key:
    return {"PK": account_partition(account_id), "SK": f"LINK#{link_id}"}


def link_gsi1(cid: str, rid: str, did: str, account_id: str) -> dict[str, str]:
    """Puts a link in its debtor's GSI1 partition too: the accounts linked to a debtor (two parents)."""
    return {"GSI1PK": debtor_partition(cid, rid, did), "GSI1SK": f"LINK#{account_id}"}


def hidden(account_id: str, invoice_id: str) -> Key:
    return {"PK": account_partition(account_id), "SK": f"HIDDEN#{invoice_id}"}


def session(token_hash: str) -> Key:
    return {"PK": f"SESSION#{token_hash}", "SK": "SESSION"}


def session_gsi1(account_id: str, created_at: str) -> dict[str, str]:
    return {"GSI1PK": account_partition(account_id), "GSI1SK": f"SESSION#{created_at}"}


def device(token_hash: str) -> Key:
    return {"PK": f"DEVICE#{token_hash}", "SK": "DEVICE"}


def device_gsi1(account_id: str, created_at: str) -> dict[str, str]:
    return {"GSI1PK": account_partition(account_id), "GSI1SK": f"DEVICE#{created_at}"}


def token(token_hash: str) -> Key:
    return {"PK": f"TOKEN#{token_hash}", "SK": "TOKEN"}


def rate_counter(scope: str, subject: str, window_start: int) -> Key:
    return {"PK": f"RATE#{scope}#{subject}", "SK": str(window_start)}


def payment(payment_id: str) -> Key:
    return {"PK": f"PAY#{payment_id}", "SK": "PAY"}


def payment_gsi1(account_id: str, created_at: str, payment_id: str) -> dict[str, str]:
    return {"GSI1PK": account_partition(account_id), "GSI1SK": f"PAY#{created_at}#{payment_id}"}


def payment_state_gsi2(state: str, created_at: str, payment_id: str) -> dict[str, str]:
    """Pending payments (for reconciliation) and anomalies (for operations), in their own sparse partitions."""
    return {"GSI2PK": payment_state_partition(state), "GSI2SK": f"{created_at}#{payment_id}"}


def invoice_state_sk(status: str, issued_on: str, reference: str) -> str:
    """An invoice's GSI1 sort key for a status: a payment moves a paid invoice to the paid prefix."""
    return f"{INVOICE_STATE_PREFIX[status]}{issued_on}#{reference}"


PAYMENT_STATE_PARTITION = "PAYSTATE#"


def payment_state_partition(state: str) -> str:
    return f"{PAYMENT_STATE_PARTITION}{state}"


def provider_ref(backend: str, ref: str) -> Key:
    return {"PK": f"PROVREF#{backend}#{ref}", "SK": "PROVREF"}


def news_partition(cid: str) -> str:
    return f"NEWS#{cid}"


def news(cid: str, published_on: str, news_id: str) -> Key:
    return {"PK": news_partition(cid), "SK": f"NEWS#{published_on}#{news_id}"}


ALL_NEWS_PARTITION = "NEWS"


def news_gsi1(cid: str, published_on: str, news_id: str) -> dict[str, str]:
    return {"GSI1PK": ALL_NEWS_PARTITION, "GSI1SK": f"{published_on}#{cid}#{news_id}"}


def outbox(mail_id: str) -> Key:
    return {"PK": f"MAIL#{mail_id}", "SK": "MAIL"}


OUTBOX_UNSENT = "OUTBOX#unsent"
OUTBOX_FAILED = "OUTBOX#failed"


def outbox_gsi2(partition: str, created_at: str, mail_id: str) -> dict[str, str]:
    """A mail not yet sent, in a sparse partition the sweep reads oldest first (removed once sent)."""
    return {"GSI2PK": partition, "GSI2SK": f"{created_at}#{mail_id}"}


def last_use_gsi2(month: str, account_id: str) -> dict[str, str]:
    """An account in the partition of the month it was last used (RGPD retention reads the old months)."""
    return {"GSI2PK": f"LASTUSE#{month}", "GSI2SK": account_id}
