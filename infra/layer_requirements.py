"""Writes shared/requirements.txt (what SAM's Python builder installs into the layer) from pyproject.toml."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "shared" / "requirements.txt"
HEADER = "# Generated from pyproject.toml by `python -m infra.layer_requirements`; do not edit.\n"


def expected() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # boto3 comes too although the runtime has one: the layer's botocore (pulled by aws-xray-sdk) would
    # otherwise shadow the runtime's and no longer match its boto3.
    return HEADER + "".join(f"{dep}\n" for dep in project["dependencies"])


def main() -> int:
    text = expected()
    if "--check" in sys.argv:
        if REQUIREMENTS.read_text(encoding="utf-8") != text:
            print("shared/requirements.txt is out of date: run python -m infra.layer_requirements", file=sys.stderr)
            return 1
        return 0
    REQUIREMENTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
