"""`make run`: the portal on http://127.0.0.1:3000 with the demo data, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from infra.local.stack import ROOT, LocalStack, StackConfig

STATE_FILE = ROOT / ".local" / "stack.json"
LOG_FILE = ROOT / ".local" / "run.log"


async def serve(port: int, payfip_port: int, state_file: Path, log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # The functions' logs go to a file, so that the portal's address is the first thing the terminal shows.
    log = log_file.open("a", encoding="utf-8")
    stack = LocalStack(StackConfig(port=port, payfip_port=payfip_port, run_schedules=True, log=log))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # start() returns once the demo data is imported; the gateway answers 503 until then.
        try:
            await stack.start()
        except Exception:
            print(f"Le démarrage a échoué : voir les journaux, {log_file}", file=sys.stderr, flush=True)
            raise
        # Where `espace-famille import --stack local` finds this stack.
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(stack.info(), indent=2))
        print(
            f"Espace Famille : {stack.url}/\n"
            f"  Données de démonstration chargées.\n"
            f"  Réclamer la facture de démonstration (« Je ne trouve pas ma facture ») :\n"
            f"    Identifiant de la collectivité : JOLIEVILLE\n"
            f"    Référence de la facture       : 2017-WI-00-9710\n"
            f"    Clé                           : K9710\n"
            f"  Mails envoyés : {stack.url}/__local__/mails\n"
            f"  PayFiP (émulateur) : {stack.payfip_server.url}  (pilotage : {stack.payfip_server.url}/__emulator__/config)\n"
            f"  Journaux : {log_file}\n"
            f"  Ctrl-C pour arrêter.\n",
            flush=True,
        )
        await stop.wait()
    finally:
        print("Arrêt…", flush=True)
        await stack.stop()
        log.close()
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--payfip-port", type=int, default=int(os.environ.get("PAYFIP_PORT", "3001")))
    parser.add_argument("--state-file", type=Path, default=STATE_FILE)
    parser.add_argument("--log-file", type=Path, default=LOG_FILE)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.payfip_port, args.state_file, args.log_file))


if __name__ == "__main__":
    main()
