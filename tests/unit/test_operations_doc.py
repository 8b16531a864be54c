"""Every command docs/operations.md gives is checked here: make targets exist, `espace-famille` accepts its
arguments, `sam deploy` names an environment of samconfig.toml and real parameters, and each `aws` command
names a real operation (or waiter) and real parameters of it."""

from __future__ import annotations

import re
import shlex
import tomllib

import botocore.session
import pytest

from infra import cli
from infra.cfn import load_yaml
from tests.support import ROOT

DOC = ROOT / "docs" / "operations.md"
# The AWS CLI's own commands, which are not API operations.
AWS_CLI_COMMANDS = {("s3", "cp"), ("s3", "ls"), ("s3", "mv"), ("s3", "rm"), ("s3", "sync")}


def commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def words(command: str) -> list[str]:
    # <placeholders> may hold spaces: one word each.
    return shlex.split(re.sub(r"<[^>]*>", "PLACEHOLDER", command))


def test_the_doc_has_commands_of_each_kind():
    firsts = {words(c)[0] for c in commands()}
    assert {"make", ".venv-sam/bin/sam", "espace-famille", "aws"} <= firsts, firsts


@pytest.mark.parametrize("command", [c for c in commands() if c.startswith("make ")])
def test_make_targets_exist(command):
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in words(command)[1:]:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


@pytest.mark.parametrize("command", [c for c in commands() if c.startswith("espace-famille ")])
def test_espace_famille_accepts_the_arguments(command):
    cli.build_parser().parse_args(words(command)[1:])


@pytest.mark.parametrize("command", [c for c in commands() if c.startswith(".venv-sam/bin/sam ")])
def test_sam_commands_name_an_environment_and_real_parameters(command):
    argv = words(command)[1:]
    assert argv[0] == "deploy", command
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    env = argv[argv.index("--config-env") + 1]
    assert "deploy" in config[env], env
    parameters = set(load_yaml(ROOT / "template.yaml")["Parameters"])
    if "--parameter-overrides" in argv:
        for pair in argv[argv.index("--parameter-overrides") + 1 :]:
            assert pair.split("=", 1)[0] in parameters, pair
    for pair in config[env]["deploy"]["parameters"]["parameter_overrides"].split():
        assert pair.split("=", 1)[0] in parameters, pair


@pytest.mark.parametrize("command", [c for c in commands() if c.startswith("aws ")])
def test_aws_commands_name_real_operations_and_parameters(command):
    argv = words(command)[1:]
    service, operation = argv[0], argv[1]
    if (service, operation) in AWS_CLI_COMMANDS:
        return
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    if operation == "wait":
        waiter = "".join(part.capitalize() for part in argv[2].split("-"))
        config = session.get_waiter_model(service).get_waiter(waiter)
        shape = model.operation_model(config.operation).input_shape
        options = argv[3:]
    else:
        name = "".join(part.capitalize() for part in operation.split("-"))
        assert name in model.operation_names, f"{service} {operation}"
        shape = model.operation_model(name).input_shape
        options = argv[2:]
    members = {m.lower() for m in (shape.members if shape else {})}
    for option in options:
        if option.startswith("--"):
            assert option[2:].replace("-", "") in members, f"{command}: {option}"
