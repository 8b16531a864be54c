"""The business metrics: only documented names, each shown on the dashboard and described in the docs."""

from __future__ import annotations

import pytest

from espace_famille import observability
from infra.cfn import load_template
from tests.support import ROOT


def test_an_undocumented_metric_name_is_refused():
    with pytest.raises(ValueError):
        observability.count("LoginFailed")


def test_every_business_metric_is_documented_and_on_the_dashboard():
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    tpl = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"})
    dashboard = str(tpl.resources["Dashboard"]["Properties"]["DashboardBody"].value[0])
    for name in observability.BUSINESS_METRICS:
        assert f"`{name}`" in docs, name
        assert f'"{name}"' in dashboard, name


def test_api_outcomes_name_real_routes():
    tpl = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"})
    routes = {r.route_key for r in tpl.routes}
    for route_key, _status in observability._API_OUTCOMES:
        assert route_key in routes, route_key


def test_a_test_or_activation_stack_overrides_every_regie_mode():
    from espace_famille.config import payfip_saisie

    assert [payfip_saisie(regie, "T") for regie in "TXW"] == ["T", "T", "T"]
    assert [payfip_saisie(regie, "X") for regie in "TXW"] == ["X", "X", "X"]
    assert [payfip_saisie(regie, "W") for regie in "TXW"] == ["T", "X", "W"]
