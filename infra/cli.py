"""`espace-famille`: operations' commands (import a régie file into the local stack or a deployed one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
LOCAL_STATE_FILE = ROOT / ".local" / "stack.json"

# Exit codes of `import`.
EXIT_OK = 0
EXIT_ROWS_REJECTED = 1  # the file was imported, some rows were not (see the report)
EXIT_FILE_REJECTED = 2  # nothing was imported (encoding, header, kind…); also argparse's usage errors
EXIT_FAILED = 3  # interrupted (AWS unreachable…): run the same file again


class CliError(Exception):
    """A French sentence for the operator; the command exits with EXIT_FAILED."""


class Progress:
    """A progress bar on stderr: bytes of the file read, rows imported (no dependency, a carriage return)."""

    WIDTH = 30

    def __init__(self, total_bytes: int, out: IO[str], min_interval: float = 0.2) -> None:
        self.total = max(total_bytes, 1)
        self.out = out
        self.min_interval = min_interval
        self.bytes = 0
        self.rows = 0
        self._last = 0.0

    def opened(self) -> None:
        """The importer reads the file again (first to settle its encoding, then to import it)."""
        self.bytes = 0

    def read(self, n: int) -> None:
        self.bytes += n
        self._draw()

    def rows_done(self, n: int) -> None:
        self.rows += n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        ratio = min(self.bytes / self.total, 1.0)
        filled = int(ratio * self.WIDTH)
        phase = "import" if self.rows else "lecture"
        self.out.write(
            f"\r{phase:<7} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {ratio * 100:5.1f} % "
            f"{_size(self.bytes)} / {_size(self.total)}, {self.rows} lignes"
        )
        self.out.flush()

    def finish(self) -> None:
        self.bytes = self.total
        self._draw(force=True)
        self.out.write("\n")
        self.out.flush()


def _size(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1000:.0f} ko"
    return f"{n / 1_000_000:.1f} Mo".replace(".", ",")


class _Counting:
    """A binary file that tells the progress bar how much was read."""

    def __init__(self, raw: IO[bytes], progress: Progress | None) -> None:
        self.raw = raw
        self.progress = progress

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self.progress is not None:
            self.progress.read(len(data))
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def configure_local(state_file: Path) -> None:
    """Points this process's AWS clients at the local stack that `make run` described in its state file."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"pas de pile locale en cours ({state_file} absent) : la lancer avec « make run »") from None
    except ValueError as exc:
        raise CliError(f"{state_file} illisible : {exc}") from exc
    try:
        os.environ["AWS_ENDPOINT_URL"] = state["aws_endpoint_url"]
        os.environ["AWS_DEFAULT_REGION"] = state["region"]
        os.environ["TABLE_NAME"] = state["tables"]["Table"]
        os.environ["PAYFIP_SERVICE_URL"] = state.get("payfip_service_url", "")
        os.environ["PAYFIP_MODE"] = state.get("payfip_mode", "T")
    except (KeyError, TypeError) as exc:
        raise CliError(f"{state_file} incomplet : {exc}") from exc
    # The local AWS server takes any credentials; the operator's real ones must not be sent there.
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - not a secret: moto accepts anything
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


def configure_stack(stack_name: str) -> None:
    """Finds the table of a deployed stack through its CloudFormation outputs (the operator's credentials)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"pile « {stack_name} » introuvable ou inaccessible : {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    if "TableName" not in outputs:
        raise CliError(f"la pile « {stack_name} » n’a pas de sortie TableName : est-ce bien Espace Famille ?")
    os.environ["TABLE_NAME"] = outputs["TableName"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stacks[0].get("Parameters") or [])}
    os.environ["PAYFIP_SERVICE_URL"] = parameters.get("PayfipServiceUrl", "")
    os.environ["PAYFIP_MODE"] = parameters.get("PayfipMode", "T")


def run_import(
    path: Path, show_progress: bool, err: IO[str], csv_path: Path | None = None
) -> tuple[dict[str, Any], int]:
    # Imported here: the domain reads its settings (TABLE_NAME) once, after configure_* has set them.
    from espace_famille import aws, config
    from espace_famille.importer.engine import Importer

    config.settings.cache_clear()
    aws.forget_clients()
    if not path.is_file():
        raise CliError(f"fichier introuvable : {path}")
    progress = Progress(path.stat().st_size, err) if show_progress else None

    def open_stream() -> IO[bytes]:
        if progress is not None:
            progress.opened()
        return _Counting(path.open("rb"), progress)  # type: ignore[return-value]

    report = Importer(progress=progress.rows_done if progress else None).run(path.name, open_stream)
    if progress is not None:
        progress.finish()
    data = report.as_json()
    if csv_path is not None:
        # With a BOM: Excel then reads the file as UTF-8.
        csv_path.write_text(report.as_csv(), encoding="utf-8-sig", newline="")
    if report.status == "rejected":
        code = EXIT_FILE_REJECTED
    elif report.status != "done":
        code = EXIT_FAILED
    elif report.counts["rejected"]:
        code = EXIT_ROWS_REJECTED
    else:
        code = EXIT_OK
    return data, code


def summary(report: dict[str, Any]) -> str:
    """The report as a French paragraph, for the operator's terminal."""
    counts = report["counts"]
    lines = [
        f"Fichier {report['file']} ({report['format'] or '?'}, {report['encoding'] or '?'}) : {_status(report)}",
    ]
    if report["file_error"]:
        lines.append(f"  {report['file_error']}")
    lines.append(
        f"  lues {counts['read']}, créées {counts['created']}, mises à jour {counts['updated']}, "
        f"inchangées {counts['unchanged']}, rejetées {counts['rejected']}"
    )
    for error in report["errors"][:50]:
        lines.append(f"  ligne {error['line']}, {error['field']} : {error['reason']}")
    hidden = len(report["errors"]) - 50
    if hidden > 0 or report["errors_truncated"]:
        lines.append("  … d’autres lignes rejetées : voir le rapport complet (JSON, sur la sortie standard)")
    warnings = report.get("warnings") or []
    for warning in warnings[:50]:
        lines.append(f"  attention, ligne {warning['line']} : {warning['reason']}")
    if len(warnings) > 50 or report.get("warnings_truncated"):
        lines.append("  … d’autres avertissements : voir le rapport complet (JSON, sur la sortie standard)")
    return "\n".join(lines)


def _status(report: dict[str, Any]) -> str:
    return {"done": "importé", "rejected": "refusé, rien n’a été importé", "failed": "interrompu"}.get(
        report["status"], report["status"]
    )


def run_schedule(function: str, state_file: Path) -> int:
    """Asks the running local stack to fire a Schedule event now, as EventBridge would on its period."""
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    try:
        url = json.loads(state_file.read_text(encoding="utf-8"))["url"]
    except (FileNotFoundError, ValueError, KeyError):
        print(
            f"espace-famille : pas de pile locale en cours ({state_file}) : la lancer avec « make run »",
            file=sys.stderr,
        )
        return EXIT_FAILED
    request = urllib.request.Request(f"{url}/__local__/schedules/{quote(function, safe='')}", method="POST")  # noqa: S310 - our own loopback stack
    try:
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 - our own loopback stack
            print(response.read().decode("utf-8"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"espace-famille : {exc.code} {exc.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return EXIT_FAILED
    except urllib.error.URLError as exc:
        print(f"espace-famille : pile locale injoignable ({exc.reason})", file=sys.stderr)
        return EXIT_FAILED


# Exit codes of `regies check`.
EXIT_REGIES_OK = 0  # every PayFiP régie is known to PayFiP
EXIT_REGIES_UNKNOWN = 1  # PayFiP does not know a numcli, or a régie has none
EXIT_REGIES_UNREACHABLE = 3  # PayFiP could not be asked (or the table read): run it again

_CHECK_LABELS = {
    "known": "connu de PayFiP",
    "unknown": "INCONNU de PayFiP",
    "unreachable": "PayFiP injoignable",
    "not_payfip": "hors PayFiP",
    "no_numcli": "SANS numcli",
}


def run_regies_check(args: argparse.Namespace) -> int:
    from espace_famille import regies
    from espace_famille.payfip import PayfipClient, PayfipEndpoints

    checks = regies.check(PayfipClient(PayfipEndpoints.from_env()), args.collectivite)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "collectivite_id": c.regie.collectivite_id,
                        "regie_id": c.regie.regie_id,
                        "name": c.regie.name,
                        "payment_backend": c.regie.payment_backend,
                        "payment_options": c.regie.payment_options,
                        "saisie": c.saisie,
                        "outcome": c.outcome,
                        "detail": c.detail,
                    }
                    for c in checks
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for c in checks:
            r = c.regie
            options = ", ".join(f"{k}={v}" for k, v in sorted(r.payment_options.items())) or "-"
            print(f"{r.collectivite_id}/{r.regie_id} « {r.name} » : {r.payment_backend} ({options}), mode {c.saisie}")
            print(f"  {_CHECK_LABELS[c.outcome]} : {c.detail}")
        if not checks:
            print("Aucune régie.")
    outcomes = {c.outcome for c in checks}
    if "unreachable" in outcomes:
        return EXIT_REGIES_UNREACHABLE
    if outcomes & {"unknown", "no_numcli"}:
        return EXIT_REGIES_UNKNOWN
    return EXIT_REGIES_OK


def _domain() -> Any:
    """The payments domain, imported once configure_* has set TABLE_NAME (settings are read once)."""
    from espace_famille import aws, config, payments

    config.settings.cache_clear()
    aws.forget_clients()
    return payments


def anomaly_summary(payment: Any) -> str:
    """One anomaly as operations read it: what was asked, what PayFiP said, what the portal saw."""
    invoices = ", ".join(f"{i.reference} ({i.amount_cents / 100:.2f} €)".replace(".", ",") for i in payment.invoices)
    lines = [
        f"Paiement {payment.payment_id} (référence PayFiP {payment.reference}), créé le {payment.created_at}",
        f"  régie {payment.collectivite_id}/{payment.regie_id} « {payment.regie_name} », numcli {payment.numcli}",
        f"  montant demandé {payment.amount_cents / 100:.2f} €, payeur {payment.email}".replace(".", ",", 1),
        f"  factures : {invoices}",
        f"  idop {payment.provider_ref or '-'}, transaction {payment.transaction_number or '-'}, "
        f"payé chez PayFiP le {payment.paid_at or '-'}",
        f"  anomalie : {payment.anomaly}",
    ]
    lines += [f"  {h.get('at')} {h.get('status')} : {h.get('detail')}" for h in payment.history]
    return "\n".join(lines)


def run_payments(args: argparse.Namespace) -> int:
    if args.stack == "local":
        configure_local(args.state_file)
    else:
        configure_stack(args.stack)
    payments = _domain()
    if args.action == "anomalies":
        found = payments.anomalies()
        if args.json:
            print(
                json.dumps(
                    [
                        payments.answer(p).model_dump(mode="json") | {"anomaly": p.anomaly, "history": list(p.history)}
                        for p in found
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            print("\n\n".join(anomaly_summary(p) for p in found) or "Aucune anomalie.")
        return 0
    from espace_famille.clock import iso, system_clock
    from espace_famille.dal import payments as store
    from espace_famille.model import PaymentStatus

    if args.action == "export":
        return run_export(args)
    if args.action == "show":
        shown = store.get_payment(args.payment_id, consistent=True)
        if shown is None:
            print(f"espace-famille : paiement {args.payment_id} inconnu", file=sys.stderr)
            return EXIT_PAYMENT_REFUSED
        print(anomaly_summary(shown).replace(f"  anomalie : {shown.anomaly}", f"  statut : {shown.status}"))
        return 0
    if args.action == "refund":
        from espace_famille import treasury

        try:
            done = treasury.refund(args.payment_id, args.note, system_clock())
        except treasury.RefundRefused as exc:
            print(f"espace-famille : {exc}", file=sys.stderr)
            return EXIT_PAYMENT_REFUSED
        except store.Conflict:
            raise CliError("le paiement ou ses factures ont changé entre-temps : relancer la commande") from None
        reopened = ", ".join(done.reopened) or "aucune (déjà modifiées par la régie)"
        print(f"Paiement {args.payment_id} remboursé ; factures de nouveau à payer : {reopened}.")
        return 0
    payment = store.get_payment(args.payment_id, consistent=True)
    if payment is None or payment.status != PaymentStatus.ANOMALY:
        raise CliError(f"pas d’anomalie {args.payment_id}")
    store.lift_hold(payment, iso(system_clock()), args.note)
    print(f"Anomalie {args.payment_id} résolue : ses factures sont de nouveau payables en ligne.")
    return 0


EXIT_PAYMENT_REFUSED = 1  # unknown payment, or not in a state that allows it: nothing changed


def run_export(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from espace_famille import treasury

    try:
        start, end = (
            datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=treasury.PARIS).astimezone(UTC)
            for d in (args.date_from, args.date_to)
        )
    except ValueError:
        raise CliError("--from et --to : des dates AAAA-MM-JJ") from None
    if end <= start:
        raise CliError("--to doit suivre --from")
    regie = tuple(args.regie.split("/", 1)) if args.regie else None
    if regie is not None and len(regie) != 2:
        raise CliError("--regie : COLLECTIVITE/REGIE")
    scanned = 0

    def progress(n: int) -> None:
        nonlocal scanned
        scanned += n
        if not args.no_progress:
            sys.stderr.write(f"\rlecture de la table : {scanned} éléments")
            sys.stderr.flush()

    files = treasury.export(start, end, regie, progress)
    if not args.no_progress:
        sys.stderr.write("\n")
    args.out.mkdir(parents=True, exist_ok=True)
    for (cid, rid), text in files.items():
        path = args.out / f"{cid}-{rid}-{args.date_from}-{args.date_to}.csv"
        path.write_bytes(text.encode("utf-8-sig"))
        print(path)
    if not files:
        print("Aucun paiement sur la période.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="espace-famille", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "import",
        help="importe un fichier de régie (CSV ou JSON Lines) ; voir docs/import-format.md",
        description=(
            "Importe un fichier de régie avec le même code que la fonction déclenchée par S3. "
            "Le rapport JSON s’affiche sur la sortie standard, la barre de progression et le résumé sur la "
            "sortie d’erreur. Codes de sortie : 0 tout importé, 1 des lignes rejetées, 2 fichier refusé, "
            "3 import interrompu."
        ),
    )
    imp.add_argument("file", type=Path, help="le fichier à importer (son nom dit son type pour un CSV)")
    imp.add_argument(
        "--stack",
        default="local",
        help="« local » (la pile lancée par make run) ou le nom d’une pile CloudFormation déployée",
    )
    imp.add_argument(
        "--state-file",
        type=Path,
        default=LOCAL_STATE_FILE,
        help="pour --stack local : le fichier d’état écrit par make run (par défaut .local/stack.json)",
    )
    imp.add_argument("--no-progress", action="store_true", help="sans barre de progression")
    imp.add_argument(
        "--csv",
        type=Path,
        metavar="RAPPORT.csv",
        help="écrit aussi les erreurs et avertissements dans ce fichier CSV, à ouvrir dans un tableur",
    )
    sched = commands.add_parser(
        "schedule",
        help="pile locale : lance maintenant une fonction planifiée du template (événement Schedule)",
    )
    sched.add_argument("function", help="l’identifiant logique de la fonction, ou le nom de son événement")
    sched.add_argument("--state-file", type=Path, default=LOCAL_STATE_FILE)
    reg = commands.add_parser("regies", help="régies : vérification auprès de PayFiP")
    reg_actions = reg.add_subparsers(dest="action", required=True)
    check = reg_actions.add_parser(
        "check",
        help="chaque régie PayFiP : son numcli confirmé par PayFiP (recupererDetailClient), sa configuration",
        description="Codes de sortie : 0 toutes connues de PayFiP, 1 numcli inconnu ou absent, 3 PayFiP injoignable.",
    )
    check.add_argument("--collectivite", help="une seule collectivité (sinon toutes : lecture de toute la table)")
    check.add_argument("--json", action="store_true", help="en JSON plutôt qu’en texte")
    check.add_argument("--stack", default="local", help="« local » ou le nom d’une pile déployée")
    check.add_argument("--state-file", type=Path, default=LOCAL_STATE_FILE)
    pay = commands.add_parser("payments", help="paiements : anomalies à vérifier avec la trésorerie")
    pay_actions = pay.add_subparsers(dest="action", required=True)
    listing = pay_actions.add_parser("anomalies", help="liste les paiements en anomalie, avec ce qui est connu")
    listing.add_argument("--json", action="store_true", help="en JSON plutôt qu’en texte")
    resolve = pay_actions.add_parser(
        "resolve", help="anomalie réglée avec la trésorerie : ses factures redeviennent payables en ligne"
    )
    resolve.add_argument("payment_id")
    resolve.add_argument("--note", required=True, help="ce qui a été décidé (remboursement, facture soldée…)")
    show = pay_actions.add_parser("show", help="un paiement, avec son historique")
    show.add_argument("payment_id")
    refund = pay_actions.add_parser(
        "refund",
        help="enregistre un remboursement fait par la trésorerie : le paiement devient « refunded », ses factures "
        "redeviennent à payer",
        description="Codes de sortie : 0 enregistré, 1 refusé (inconnu, pas payé), 3 échec (à relancer).",
    )
    refund.add_argument("payment_id")
    refund.add_argument("--note", required=True, help="qui a remboursé, quand, comment")
    export = pay_actions.add_parser(
        "export",
        help="CSV de la trésorerie par régie : date, refdet, idop, montant, factures (paiements de la période)",
    )
    export.add_argument("--from", dest="date_from", required=True, help="AAAA-MM-JJ, inclus (heure de Paris)")
    export.add_argument("--to", dest="date_to", required=True, help="AAAA-MM-JJ, exclu")
    export.add_argument("--regie", help="une seule régie : COLLECTIVITE/REGIE")
    export.add_argument("--out", type=Path, default=Path("."), help="dossier des fichiers (par défaut : ici)")
    export.add_argument("--no-progress", action="store_true", help="sans progression")
    for sub in (listing, resolve, show, refund, export):
        sub.add_argument("--stack", default="local", help="« local » ou le nom d’une pile déployée")
        sub.add_argument("--state-file", type=Path, default=LOCAL_STATE_FILE)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.command == "schedule":
        return run_schedule(args.function, args.state_file)
    if args.command == "regies":
        try:
            if args.stack == "local":
                configure_local(args.state_file)
            else:
                configure_stack(args.stack)
            return run_regies_check(args)
        except CliError as exc:
            print(f"espace-famille : {exc}", file=sys.stderr)
            return EXIT_REGIES_UNREACHABLE
    if args.command == "payments":
        try:
            return run_payments(args)
        except CliError as exc:
            print(f"espace-famille : {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        if args.stack == "local":
            configure_local(args.state_file)
        else:
            configure_stack(args.stack)
        report, code = run_import(args.file, not args.no_progress, sys.stderr, args.csv)
    except CliError as exc:
        print(f"espace-famille : {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary(report), file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
