"""RGPD retention: accounts unused for 3 years get a notice, and are deleted 30 days later if still unused.

An account's last use is its last login (`note_use`). Payments outlive a deleted account: they are
accounting records, kept 10 years, detached from it. Sessions and tokens expire by themselves (TTL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from espace_famille import mail
from espace_famille.clock import iso
from espace_famille.dal import accounts as store
from espace_famille.dal import retention as dal
from espace_famille.dal import sessions as session_store
from espace_famille.observability import logger

UNUSED_FOR = timedelta(days=3 * 365)
NOTICE_PERIOD = timedelta(days=30)
# A daily run reads the months from this far back: a job stopped for up to a year catches up.
CATCH_UP_MONTHS = 12

NOTICE_SUBJECT = "Votre compte Espace Famille sera supprimé dans 30 jours"
NOTICE_TEXT = (
    "Bonjour,\n\n"
    "Vous ne vous êtes pas connecté à Espace Famille depuis trois ans. Conformément à notre politique de "
    "conservation des données, votre compte sera supprimé dans 30 jours.\n\n"
    "Pour le conserver, il suffit de vous connecter avant cette date.\n\n"
    "Les paiements déjà effectués restent enregistrés par la collectivité, comme la comptabilité publique "
    "l'exige.\n"
)


def note_use(account_id: str, now: datetime) -> None:
    dal.note_use(account_id, now.strftime("%Y-%m"), iso(now))


@dataclass(frozen=True)
class RetentionRun:
    notified: int = 0
    deleted: int = 0


def _months_back(latest: datetime, count: int) -> list[str]:
    year, month = latest.year, latest.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def run(now: datetime) -> RetentionRun:
    """Sends the notices that are due and deletes the accounts whose notice went unanswered."""
    cutoff = iso(now - UNUSED_FOR)
    notice_deadline = iso(now - NOTICE_PERIOD)
    notified = deleted = 0
    for month in _months_back(now - UNUSED_FOR, CATCH_UP_MONTHS):
        for item in dal.last_used_in(month):
            used = str(item.get("last_used_at", ""))
            if not used or used >= cutoff:
                continue
            account_id = str(item["account_id"])
            notice = item.get("retention_notice_at")
            if notice is None:
                if dal.mark_notified(account_id, used, iso(now)):
                    mail.send(str(item["email"]), NOTICE_SUBJECT, NOTICE_TEXT)
                    notified += 1
            elif str(notice) <= notice_deadline:
                account = store.by_id(account_id, consistent=True)
                if account is None or not dal.still_notified(account_id, str(notice)):
                    continue
                session_store.delete_all(account_id)
                session_store.delete_devices(account_id)
                store.detach_payments(account_id, iso(now))
                store.delete(account, iso(now))
                deleted += 1
    logger.info("retention run", extra={"notified": notified, "deleted": deleted})
    return RetentionRun(notified, deleted)
