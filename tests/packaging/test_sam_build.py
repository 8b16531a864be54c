"""Packaging: `sam build` succeeds and every built function imports under the runtime's Python with its layer."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.cfn import load_yaml
from tests.support import ROOT

pytestmark = pytest.mark.packaging

RUNTIME_PYTHON = "python3.13"
# Only these functions verify or set passwords; every other one must start without argon2.
PASSWORD_FUNCTIONS = {"AccountsFunction", "SessionFunction"}


def _sam() -> str:
    sam = os.environ.get("SAM") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(sam).exists():
        pytest.fail(f"aws-sam-cli is missing ({sam}): run `make sam-venv`")
    return sam


def _runtime_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-3")
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def _runtime_python() -> str:
    """The real interpreter of the Lambda runtime's version (resolved through pyenv's shim if need be)."""
    env = _runtime_env()
    if shutil.which("pyenv"):
        probe = subprocess.run(["pyenv", "which", RUNTIME_PYTHON], env=env, capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip():
            return probe.stdout.strip()
    found = shutil.which(RUNTIME_PYTHON)
    assert found, f"{RUNTIME_PYTHON} is not available: install it (pyenv install 3.13) and set PYENV_VERSION"
    return found


def _local_architecture() -> str:
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = subprocess.run(
        [
            _sam(),
            "build",
            "--template",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
            "--parameter-overrides",
            f"Architecture={_local_architecture()}",
        ],
        cwd=ROOT,
        env=_runtime_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return build_dir


def test_layer_is_built_for_the_local_architecture(built):
    layer = built / "SharedLayer" / "python"
    assert (layer / "espace_famille" / "__init__.py").exists()
    compiled = list(layer.glob("pydantic_core/_pydantic_core*.so"))
    assert compiled, "pydantic_core's compiled module is missing from the layer"
    assert "cpython-313" in compiled[0].name
    machine = "aarch64" if _local_architecture() == "arm64" else "x86_64"
    assert machine in compiled[0].name


def test_every_built_function_imports_with_its_layer(built):
    runtime = _runtime_python()
    template = load_yaml(built / "template.yaml")
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    layer = built / "SharedLayer" / "python"
    probe_code = (
        "import importlib, json, sys\n"
        "module, func = sys.argv[1].rsplit('.', 1)\n"
        "handler = getattr(importlib.import_module(module), func)\n"
        "print(json.dumps({'callable': callable(handler), 'argon2': 'argon2' in sys.modules,"
        " 'version': list(sys.version_info[:2])}))\n"
    )
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        code_dir = built / props["CodeUri"]
        child_env = {
            "PATH": os.environ["PATH"],
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_REGION": "eu-west-3",
            "TABLE_NAME": "packaging-test",
            "POWERTOOLS_SERVICE_NAME": "espace-famille",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONNOUSERSITE": "1",
        }
        # -I: nothing of the dev venv or the environment on the path, only the code and the built layer.
        path_setup = f"import sys; sys.path[:0] = {[str(code_dir), str(layer)]!r}\n"
        result = subprocess.run(
            [runtime, "-I", "-c", path_setup + probe_code, props.get("Handler", "app.handler")],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(code_dir),
        )
        assert result.returncode == 0, f"{logical_id}: {result.stderr[-3000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["callable"], logical_id
        assert report["version"] == [3, 13], logical_id
        if logical_id not in PASSWORD_FUNCTIONS:
            assert not report["argon2"], f"{logical_id} imports argon2 but hashes no password"


def test_payfip_adapter_works_from_the_built_layer(built):
    """eopayment's WSDL and XSD files are in the layer, and zeep and lxml load under the runtime's Python."""
    layer = built / "SharedLayer" / "python"
    assert (layer / "eopayment" / "resource" / "PaiementSecuriseService.wsdl").exists()
    compiled = list(layer.glob("lxml/etree*.so"))
    assert compiled and "cpython-313" in compiled[0].name
    probe = (
        f"import sys; sys.path[:0] = [{str(layer)!r}]\n"
        "from espace_famille.payfip import PayfipClient, PayfipEndpoints, objet_for\n"
        "client = PayfipClient(PayfipEndpoints('http://127.0.0.1:9/tpa/services/securite', 'http://p/x'))\n"
        "print(client.page_url('abc'), objet_for('Régie été', ['2017-WI-00-9710']))\n"
    )
    result = subprocess.run(
        [_runtime_python(), "-I", "-c", probe],
        env={"PATH": os.environ["PATH"], "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "http://p/x?idop=abc Regie ete 2017 WI 00 9710"
