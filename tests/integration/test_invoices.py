"""The parent's read side through the gateway: claims, the three views, detail, hiding, news, isolation, cost."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support import Client, calls, import_via_s3, reset_calls, signed_up

pytestmark = pytest.mark.integration


def _cid() -> str:
    return f"V{uuid.uuid4().hex[:10].upper()}"


def setup_collectivite(stack, cid: str, regies=("CANTINE", "GARDERIE"), news=()) -> None:
    rows: list[dict[str, Any]] = [{"kind": "collectivite", "collectivite_id": cid, "name": f"Ville de {cid}"}]
    for n, rid in enumerate(regies, 1):
        rows.append(
            {
                "kind": "regie",
                "collectivite_id": cid,
                "regie_id": rid,
                "name": f"Régie {rid}",
                "payment_backend": "payfip",
                "payment_options": {"numcli": f"{n:06d}"},
            }
        )
    for published_on, title in news:
        rows.append(
            {
                "kind": "news",
                "collectivite_id": cid,
                "published_on": published_on,
                "category": "Information",
                "title": title,
                "body": f"Texte de {title}",
            }
        )
    report = import_via_s3(stack, "setup.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert report["status"] == "done" and report["counts"]["rejected"] == 0, report


def invoice_row(cid: str, ref: str, rid: str = "CANTINE", debtor: str = "D1", **kw: Any) -> dict[str, Any]:
    row = {
        "kind": "invoice",
        "collectivite_id": cid,
        "regie_id": rid,
        "reference": ref,
        "key": f"K{ref[-6:].replace('-', '')}",
        "debtor_id": debtor,
        "debtor_name": f"Famille {debtor}",
        "issued_on": "2026-09-01",
        "due_on": "2030-01-31",
        "amount": "10.00",
        "status": "open",
    }
    row.update(kw)
    return row


def import_rows(stack, rows: list[dict[str, Any]]) -> None:
    report = import_via_s3(stack, "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert report["status"] == "done" and report["counts"]["rejected"] == 0, report


def claim(client: Client, cid: str, row: dict[str, Any]):
    return client.post("/api/claims", json={"collectivite_id": cid, "reference": row["reference"], "key": row["key"]})


def refs(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["reference"] for i in response.json()["invoices"]]


# -- claims ---------------------------------------------------------------------------------------------
def test_claim_links_the_debtor_in_that_regie_only_and_future_invoices_follow(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    cantine = [invoice_row(cid, f"{cid}-C{i}", issued_on=f"2026-0{i}-01") for i in range(1, 4)]
    garderie = [invoice_row(cid, f"{cid}-G1", rid="GARDERIE")]
    other_family = [invoice_row(cid, f"{cid}-O1", debtor="D2")]
    import_rows(stack, cantine + garderie + other_family)
    parent = signed_up(stack.url)

    first = claim(parent, cid, cantine[1])
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["invoices_found"] == 3
    assert body["regie"]["regie_id"] == "CANTINE"
    assert body["regie"]["regie_name"] == "Régie CANTINE"
    assert body["regie"]["collectivite_name"] == f"Ville de {cid}"
    assert body["regie"]["debtor_name"] == "Famille D1"
    assert set(body["regie"]) == {
        "link_id",
        "collectivite_id",
        "collectivite_name",
        "regie_id",
        "regie_name",
        "debtor_name",
    }
    assert refs(parent.get("/api/invoices")) == [f"{cid}-C3", f"{cid}-C2", f"{cid}-C1"]

    # A future invoice of the same debtor in the same régie shows up without another claim.
    import_rows(stack, [invoice_row(cid, f"{cid}-C9", issued_on="2026-10-01")])
    assert refs(parent.get("/api/invoices"))[0] == f"{cid}-C9"

    # The garderie needs its own claim.
    assert claim(parent, cid, garderie[0]).status_code == 201
    assert f"{cid}-G1" in refs(parent.get("/api/invoices"))
    assert f"{cid}-O1" not in refs(parent.get("/api/invoices"))
    me = parent.get("/api/me").json()
    assert sorted(r["regie_id"] for r in me["regies"]) == ["CANTINE", "GARDERIE"]


def test_claim_normalisation_and_idempotence(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    row = invoice_row(cid, f"{cid}-AB-01")
    import_rows(stack, [row])
    parent = signed_up(stack.url)
    spaced = {
        "collectivite_id": f"  {cid.lower()} ",
        "reference": " ".join(row["reference"].lower()),
        "key": f" {row['key'].lower()} ",
    }
    assert parent.post("/api/claims", json=spaced).status_code == 201
    again = claim(parent, cid, row)
    assert again.status_code == 200
    assert again.json()["invoices_found"] == 1
    assert len(parent.get("/api/me").json()["regies"]) == 1
    assert len(refs(parent.get("/api/invoices"))) == 1


def test_any_wrong_part_answers_the_same_404(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    row = invoice_row(cid, f"{cid}-X1")
    import_rows(stack, [row])
    parent = signed_up(stack.url)
    answers = []
    for body in (
        {"collectivite_id": "NOWHERE", "reference": row["reference"], "key": row["key"]},
        {"collectivite_id": cid, "reference": row["reference"] + "0", "key": row["key"]},
        {"collectivite_id": cid, "reference": row["reference"], "key": row["key"] + "0"},
        {"collectivite_id": cid, "reference": "réf-é", "key": row["key"]},
    ):
        response = parent.post("/api/claims", json=body)
        answers.append((response.status_code, response.json()))
    assert {json.dumps(a) for a in answers} == {json.dumps(answers[0])}
    assert answers[0][0] == 404
    assert answers[0][1]["error"] == "invoice_not_found"
    assert parent.get("/api/me").json()["regies"] == []


def test_a_cancelled_invoice_cannot_be_claimed(stack):
    """An invoice sent to the wrong family, then cancelled: its triple reveals nothing of the debtor."""
    cid = _cid()
    setup_collectivite(stack, cid)
    kept = invoice_row(cid, f"{cid}-K1")
    wrong = invoice_row(cid, f"{cid}-W1", status="cancelled")
    import_rows(stack, [kept, wrong])
    parent = signed_up(stack.url)
    unknown = parent.post("/api/claims", json={"collectivite_id": cid, "reference": f"{cid}-NONE", "key": "K1"})
    reset_calls(parent)
    response = claim(parent, cid, wrong)
    assert (response.status_code, response.json()) == (unknown.status_code, unknown.json())
    assert response.json()["error"] == "invoice_not_found"
    assert "TransactWriteItems" not in calls(parent)
    assert parent.get("/api/me").json()["regies"] == []
    # A paid invoice still links (a parent may hold only a paid one).
    paid = invoice_row(cid, f"{cid}-P1", status="paid", paid_at="2026-09-02T10:00:00Z")
    import_rows(stack, [paid])
    assert claim(parent, cid, paid).status_code == 201


def test_failed_claims_are_throttled_per_account(stack):
    parent = signed_up(stack.url)
    for i in range(5):
        assert (
            parent.post(
                "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": f"NOPE-{i}", "key": "K"}
            ).status_code
            == 404
        )
    blocked = parent.post(
        "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "rate_limited"
    assert 0 < int(blocked.headers["retry-after"]) <= 2 * 3600


def test_parallel_failed_claims_stop_at_the_limit(stack):
    parent = signed_up(stack.url)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        with Client(stack.url, ip=parent.ip) as c:
            c.jar.update(parent.jar)
            r = c.post("/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": f"NOPE-{i}", "key": "K"})
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {404, 429}
    # Each attempt is counted before the look-up: however many run at once, at most 5 are looked up.
    assert 1 <= statuses.count(404) <= 5, statuses


def test_failed_claims_are_throttled_per_ip(stack):
    ip = Client(stack.url).ip
    for _ in range(5):
        parent = signed_up(stack.url)
        with Client(stack.url, ip=ip) as same_place:
            same_place.jar.update(parent.jar)
            for i in range(4):
                r = same_place.post("/api/claims", json={"collectivite_id": "X", "reference": f"R{i}", "key": "K"})
                assert r.status_code == 404
    late = signed_up(stack.url)
    with Client(stack.url, ip=ip) as same_place:
        same_place.jar.update(late.jar)
        r = same_place.post(
            "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}
        )
        assert r.status_code == 429
    # The same parent elsewhere is not blocked.
    assert (
        late.post(
            "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    "body",
    [
        {"collectivite_id": "", "reference": "R", "key": "K"},
        {"collectivite_id": "C", "reference": "   ", "key": "K"},
        {"collectivite_id": "C", "reference": "R", "key": "K" * 10_000},
        {"collectivite_id": "C" * 10_240, "reference": "R", "key": "K"},
        {"collectivite_id": "C", "reference": "R\x00", "key": "K"},
        {"collectivite_id": "C", "reference": "R\n1", "key": "K"},
        {"collectivite_id": "C", "reference": "R"},
        {"collectivite_id": "C", "reference": "R", "key": "K", "debtor_id": "D"},
        {"collectivite_id": 1, "reference": "R", "key": "K"},
    ],
    ids=["empty", "blank", "key-10k", "cid-10k", "nul", "newline", "missing", "extra", "number"],
)
def test_claim_bad_input(stack, body):
    parent = signed_up(stack.url)
    reset_calls(parent)
    response = parent.post("/api/claims", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    writes = {k: v for k, v in calls(parent).items() if k in ("PutItem", "UpdateItem", "TransactWriteItems")}
    assert not writes


# -- views -----------------------------------------------------------------------------------------------
def test_views_hidden_flags_cancelled_and_totals(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    rows = [
        invoice_row(cid, f"{cid}-1", issued_on="2026-01-01", amount="10,00"),
        invoice_row(cid, f"{cid}-2", issued_on="2026-02-01", amount="20,00"),
        invoice_row(
            cid, f"{cid}-3", issued_on="2026-03-01", amount="30,00", status="paid", paid_at="2026-03-05T10:00:00Z"
        ),
        invoice_row(cid, f"{cid}-4", issued_on="2026-04-01", amount="40,00", status="cancelled"),
    ]
    import_rows(stack, rows)
    mother, father = signed_up(stack.url), signed_up(stack.url)
    assert claim(mother, cid, rows[0]).status_code == 201
    assert claim(father, cid, rows[2]).status_code == 201

    current = mother.get("/api/invoices?view=current").json()
    assert [i["reference"] for i in current["invoices"]] == [f"{cid}-2", f"{cid}-1"]
    assert current["total_due_cents"] == 3000
    assert all(i["payable"] and not i["hidden"] and i["status"] == "open" for i in current["invoices"])
    assert set(current["invoices"][0]) == {
        "id", "collectivite_id", "collectivite_name", "regie_id", "regie_name", "reference", "debtor_name",
        "issued_on", "due_on", "amount_cents", "status", "paid_at", "payment_id", "hidden", "payable",
        "not_payable_reason",
    }  # fmt: skip
    assert all(i["not_payable_reason"] is None for i in current["invoices"])
    paid = mother.get("/api/invoices?view=paid").json()
    assert [i["reference"] for i in paid["invoices"]] == [f"{cid}-3"]
    assert paid["invoices"][0]["paid_at"] == "2026-03-05T10:00:00.000000Z"
    assert paid["invoices"][0]["payment_id"] is None
    assert paid["next_cursor"] is None

    # Hiding is per account and idempotent.
    second = current["invoices"][0]["id"]
    assert mother.put(f"/api/invoices/{second}/hidden").status_code == 204
    assert mother.put(f"/api/invoices/{second}/hidden").status_code == 204
    mine = mother.get("/api/invoices").json()
    assert [i["reference"] for i in mine["invoices"]] == [f"{cid}-1"]
    assert mine["total_due_cents"] == 1000
    hidden = mother.get("/api/invoices?view=hidden").json()["invoices"]
    assert [(i["reference"], i["hidden"]) for i in hidden] == [(f"{cid}-2", True)]
    assert refs(father.get("/api/invoices")) == [f"{cid}-2", f"{cid}-1"]
    assert mother.get(f"/api/invoices/{second}").json()["hidden"] is True

    # A paid invoice can be hidden too; it then leaves the paid view.
    paid_id = paid["invoices"][0]["id"]
    assert mother.put(f"/api/invoices/{paid_id}/hidden").status_code == 204
    assert refs(mother.get("/api/invoices?view=paid")) == []
    assert sorted(refs(mother.get("/api/invoices?view=hidden"))) == [f"{cid}-2", f"{cid}-3"]

    assert mother.delete(f"/api/invoices/{second}/hidden").status_code == 204
    assert mother.delete(f"/api/invoices/{second}/hidden").status_code == 204
    assert refs(mother.get("/api/invoices")) == [f"{cid}-2", f"{cid}-1"]

    # Cancelled invoices appear in no view and have no detail.
    for view in ("current", "paid", "hidden"):
        assert f"{cid}-4" not in refs(mother.get(f"/api/invoices?view={view}"))


def test_an_invoice_in_a_live_payment_is_not_payable(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    rows = [invoice_row(cid, f"{cid}-L1", amount="5,00"), invoice_row(cid, f"{cid}-L2", amount="7,00")]
    import_rows(stack, rows)
    parent = signed_up(stack.url)
    assert claim(parent, cid, rows[0]).status_code == 201
    listed = parent.get("/api/invoices").json()["invoices"]
    locked = next(i for i in listed if i["reference"] == f"{cid}-L1")["id"]
    ddb = stack.aws.client("dynamodb")
    ddb.update_item(
        TableName=stack.resource_name("Table"),
        Key={"PK": {"S": f"INV#{locked}"}, "SK": {"S": "INV"}},
        UpdateExpression="SET lock_payment_id = :p, lock_until = :u",
        ExpressionAttributeValues={":p": {"S": "pay-1"}, ":u": {"S": "2999-01-01T00:00:00.000000Z"}},
    )
    body = parent.get("/api/invoices").json()
    by_ref = {i["reference"]: i for i in body["invoices"]}
    assert (by_ref[f"{cid}-L1"]["payable"], by_ref[f"{cid}-L1"]["not_payable_reason"]) == (
        False,
        "payment_in_progress",
    )
    assert (by_ref[f"{cid}-L2"]["payable"], by_ref[f"{cid}-L2"]["not_payable_reason"]) == (True, None)
    assert body["total_due_cents"] == 700
    # A lock past its time no longer holds.
    ddb.update_item(
        TableName=stack.resource_name("Table"),
        Key={"PK": {"S": f"INV#{locked}"}, "SK": {"S": "INV"}},
        UpdateExpression="SET lock_until = :u",
        ExpressionAttributeValues={":u": {"S": "2001-01-01T00:00:00.000000Z"}},
    )
    assert parent.get("/api/invoices").json()["total_due_cents"] == 1200


def test_detail_with_lines(client, stack):
    parent = signed_up(stack.url)
    assert (
        parent.post(
            "/api/claims", json={"collectivite_id": "JOLIEVILLE", "reference": "2017-VS-00-9700", "key": "K9700"}
        ).status_code
        == 201
    )
    paid = parent.get("/api/invoices?view=paid").json()["invoices"]
    july = next(i for i in paid if i["reference"] == "2017-VS-00-9700")
    detail = parent.get(f"/api/invoices/{july['id']}").json()
    assert detail["amount_cents"] == 4185
    assert detail["lines"] == [
        {"label": "Repas", "quantity": 12, "unit_price_cents": 335, "amount_cents": 4020},
        {"label": "Majoration repas non réservé", "quantity": 1, "unit_price_cents": 165, "amount_cents": 165},
    ]
    assert detail["paid_at"] == "2017-07-11T14:28:09.000000Z"
    assert "key" not in json.dumps(detail).lower().replace("key_", "")


def test_other_familys_and_malformed_ids_are_404_on_every_route(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    rows = [invoice_row(cid, f"{cid}-A", debtor="DA"), invoice_row(cid, f"{cid}-B", debtor="DB")]
    import_rows(stack, rows)
    a, b = signed_up(stack.url), signed_up(stack.url)
    assert claim(a, cid, rows[0]).status_code == 201
    assert claim(b, cid, rows[1]).status_code == 201
    b_id = b.get("/api/invoices").json()["invoices"][0]["id"]
    for bad in (b_id, "x", "a" * 26 + "b", "A" * 26, "z" * 300, "..%2F..%2Fetc", "trvjri2fbedtkvdbpdbxldkfl1"):
        for method, path in (
            ("GET", f"/api/invoices/{bad}"),
            ("PUT", f"/api/invoices/{bad}/hidden"),
            ("DELETE", f"/api/invoices/{bad}/hidden"),
        ):
            response = a.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"] == "not_found"
    assert refs(b.get("/api/invoices?view=hidden")) == []
    assert refs(a.get("/api/invoices")) == [f"{cid}-A"]


@pytest.mark.parametrize(
    "query",
    [
        "view=unpaid",
        "view=",
        "limit=0",
        "limit=-1",
        "limit=201",
        "limit=10000",
        "limit=abc",
        "view=paid&cursor=%%%",
        "view=paid&cursor=" + "A" * 600,
    ],
)
def test_listing_bad_parameters(stack, query):
    parent = signed_up(stack.url)
    response = parent.get(f"/api/invoices?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"


def test_tampered_cursor_is_refused(stack):
    import base64

    cid = _cid()
    setup_collectivite(stack, cid)
    rows = [
        invoice_row(cid, f"{cid}-P{i}", status="paid", paid_at="01/03/2026 10:00", issued_on=f"2026-01-{i + 10}")
        for i in range(3)
    ]
    import_rows(stack, rows)
    parent, stranger = signed_up(stack.url), signed_up(stack.url)
    assert claim(parent, cid, rows[0]).status_code == 201
    first = parent.get("/api/invoices?view=paid&limit=1").json()
    cursor = first["next_cursor"]
    assert cursor
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    tampered = [
        base64.urlsafe_b64encode(json.dumps({**decoded, "sk": "O#2026-01-01#X"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({**decoded, "link": "a" * 26}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({**decoded, "extra": 1}).encode()).decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        cursor[:-3],
        cursor + "x",
    ]
    for bad in tampered:
        response = parent.get("/api/invoices", params={"view": "paid", "cursor": bad})
        assert response.status_code == 422, bad
        assert response.json()["error"] == "validation_error"
    # Another account cannot use this account's cursor either.
    assert stranger.get("/api/invoices", params={"view": "paid", "cursor": cursor}).status_code == 422


def test_paid_view_pages_across_regies_exactly_once_newest_first(stack):
    cid = _cid()
    regies = ("R1", "R2", "R3")
    setup_collectivite(stack, cid, regies=regies)
    rows = []
    for rid in regies:
        for day in range(1, 8):
            # Same dates in every régie: ties between régies must neither repeat nor skip an invoice.
            rows.append(
                invoice_row(
                    cid,
                    f"{cid}-{rid}-{day}",
                    rid=rid,
                    status="paid",
                    paid_at="2026-05-01T10:00:00Z",
                    issued_on=f"2026-04-{day:02d}",
                )
            )
    import_rows(stack, rows)
    parent = signed_up(stack.url)
    for rid in regies:
        assert claim(parent, cid, next(r for r in rows if r["regie_id"] == rid)).status_code == 201
    seen: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"view": "paid", "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = parent.get("/api/invoices", params=params).json()
        pages += 1
        seen += page["invoices"]
        sizes.append(len(page["invoices"]))
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert pages < 20
    # Each link reads its share, ceil((4 + 1) / 3) = 2: a page holds at least that while more remain.
    assert pages <= 11
    assert all(2 <= size <= 4 for size in sizes[:-1]) and sizes[-1] <= 4, sizes
    assert sorted(i["reference"] for i in seen) == sorted(r["reference"] for r in rows)
    assert len({i["id"] for i in seen}) == 21
    dates = [i["issued_on"] for i in seen]
    assert dates == sorted(dates, reverse=True)


# -- news ---------------------------------------------------------------------------------------------------
def test_news_of_linked_collectivites_else_all(stack):
    cid = _cid()
    setup_collectivite(
        stack, cid, news=[("2026-01-10", "Fermeture de la cantine"), ("2026-02-10", "Nouveaux horaires")]
    )
    # Another collectivité publishes 22 items dated after anything else of the shared stack: an account
    # with no link sees the 20 newest of them, newest first, and nothing else.
    other = _cid()
    setup_collectivite(stack, other, news=[(f"2099-01-{day:02d}", f"Ailleurs {day}") for day in range(1, 23)])
    row = invoice_row(cid, f"{cid}-N1")
    import_rows(stack, [row])
    parent = signed_up(stack.url)
    everyone = parent.get("/api/news").json()["news"]
    assert [n["title"] for n in everyone] == [f"Ailleurs {day}" for day in range(22, 2, -1)]
    assert {n["collectivite_name"] for n in everyone} == {f"Ville de {other}"}
    assert claim(parent, cid, row).status_code == 201
    mine = parent.get("/api/news").json()["news"]
    assert [n["title"] for n in mine] == ["Nouveaux horaires", "Fermeture de la cantine"]
    assert mine[0]["collectivite_name"] == f"Ville de {cid}"
    assert set(mine[0]) == {"id", "collectivite_id", "collectivite_name", "title", "category", "published_on", "body"}
    # Linked to a collectivité with more than 20 items: the 20 newest still.
    other_row = invoice_row(other, f"{other}-N2")
    import_rows(stack, [other_row])
    assert claim(parent, other, other_row).status_code == 201
    both = parent.get("/api/news").json()["news"]
    assert [n["title"] for n in both] == [f"Ailleurs {day}" for day in range(22, 2, -1)]


def test_unlink(stack):
    cid = _cid()
    setup_collectivite(stack, cid)
    row = invoice_row(cid, f"{cid}-U1")
    import_rows(stack, [row])
    parent = signed_up(stack.url)
    assert claim(parent, cid, row).status_code == 201
    [regie] = parent.get("/api/me").json()["regies"]
    invoice_id = parent.get("/api/invoices").json()["invoices"][0]["id"]
    assert parent.put(f"/api/invoices/{invoice_id}/hidden").status_code == 204
    assert refs(parent.get("/api/invoices?view=hidden")) == [f"{cid}-U1"]
    assert parent.delete(f"/api/me/regies/{regie['link_id']}").status_code == 204
    assert parent.delete(f"/api/me/regies/{regie['link_id']}").status_code == 404
    assert refs(parent.get("/api/invoices")) == []
    # The hidden flag outlives the link; the invoice must not: the hidden view shows linked régies only.
    assert refs(parent.get("/api/invoices?view=hidden")) == []
    assert parent.get(f"/api/invoices/{invoice_id}").status_code == 404


# -- cost ------------------------------------------------------------------------------------------------------
COST_REGIES = tuple(f"R{i:02d}" for i in range(10))


@pytest.fixture(scope="module")
def cost_setup(stack):
    """Ten régies of one family: R00 with 110 invoices (to hide 100 of them), the others with 6; half paid."""
    cid = _cid()
    setup_collectivite(stack, cid, regies=COST_REGIES)
    rows = []
    for rid in COST_REGIES:
        for n in range(110 if rid == "R00" else 6):
            paid = n % 2 == 0
            rows.append(
                invoice_row(
                    cid,
                    f"{cid}-{rid}-{n:03d}",
                    rid=rid,
                    issued_on=f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                    status="paid" if paid else "open",
                    paid_at="2026-01-01T00:00:00Z" if paid else "",
                )
            )
    import_rows(stack, rows)
    return cid, rows


def _linked(stack, cid: str, rows: list[dict[str, Any]], regies: int, hidden: int) -> Client:
    parent = signed_up(stack.url)
    for rid in COST_REGIES[:regies]:
        assert claim(parent, cid, next(r for r in rows if r["regie_id"] == rid)).status_code == 201
    if hidden:
        ids = [i["id"] for i in parent.get("/api/invoices").json()["invoices"] if i["regie_id"] == "R00"]
        cursor = None
        while len(ids) < hidden:
            params: dict[str, str | int] = {"view": "paid", "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = parent.get("/api/invoices", params=params).json()
            ids += [i["id"] for i in page["invoices"] if i["regie_id"] == "R00"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(ids) >= hidden
        with ThreadPoolExecutor(4) as pool:
            done = list(pool.map(lambda iid: parent.put(f"/api/invoices/{iid}/hidden").status_code, ids[:hidden]))
        assert done == [204] * hidden
    return parent


@pytest.mark.parametrize("hidden", [0, 100])
@pytest.mark.parametrize("regies", [1, 3, 10])
def test_listing_costs_at_most_regies_plus_two_calls_in_three_round_trips(stack, cost_setup, regies, hidden):
    """The authorizer's GetItem; one Query of the account's partition; then together one Query per linked
    régie: whatever the régies and hidden invoices. The régies' names and payability come from the process's
    recent copy; a process without one reads them once, in the same third round trip (one BatchGetItem)."""
    cid, rows = cost_setup
    parent = _linked(stack, cid, rows, regies, hidden)
    reset_calls(parent)
    assert parent.get("/api/invoices").status_code == 200
    first = calls(parent)
    assert first.get("BatchGetItem", 0) <= 1 and sum(first.values()) <= regies + 3, first
    for view in ("current", "paid", "hidden"):
        reset_calls(parent)
        response = parent.get(f"/api/invoices?view={view}")
        assert response.status_code == 200, response.text
        counted = calls(parent)
        assert sum(counted.values()) <= regies + 2, (view, counted)
        if view == "hidden":
            shown = len(response.json()["invoices"])
            assert shown == hidden
            # The hidden invoices themselves, where they live.
            assert counted == {"GetItem": 1, "Query": 1, **({"BatchGetItem": 1} if hidden else {})}, counted
        else:
            assert counted == {"GetItem": 1, "Query": regies + 1}, (view, counted)
    current = parent.get("/api/invoices").json()
    assert current["total_due_cents"] == sum(i["amount_cents"] for i in current["invoices"] if i["payable"])
    # R00's 55 open invoices are hidden first, when 100 are; the other régies have 3 open each.
    open_in_r00 = 0 if hidden else 55
    assert len(current["invoices"]) == open_in_r00 + 3 * (regies - 1)


def test_detail_hide_and_claim_costs(stack, cost_setup):
    cid, rows = cost_setup
    parent = _linked(stack, cid, rows, 1, 0)
    invoice_id = parent.get("/api/invoices").json()["invoices"][0]["id"]
    expected = {
        ("GET", f"/api/invoices/{invoice_id}"): {"GetItem": 1, "Query": 1, "BatchGetItem": 1},
        ("PUT", f"/api/invoices/{invoice_id}/hidden"): {"GetItem": 2, "BatchGetItem": 1, "PutItem": 1},
        ("DELETE", f"/api/invoices/{invoice_id}/hidden"): {"GetItem": 2, "BatchGetItem": 1, "DeleteItem": 1},
    }
    for (method, path), cost in expected.items():
        reset_calls(parent)
        assert parent.request(method, path).status_code == (200 if method == "GET" else 204)
        assert calls(parent) == cost, (method, path)
    # A claim of a régie already linked: throttle check, the invoice, its names, the transaction, one bounded count.
    reset_calls(parent)
    assert claim(parent, cid, rows[0]).status_code == 200
    counted = calls(parent)
    # The throttle's attempt is reserved (2 UpdateItem) and given back on success (2 more) around the work;
    # the count of the debtor's invoices is one bounded Query.
    assert "Scan" not in counted and sum(counted.values()) <= 10 and counted["UpdateItem"] == 4, counted
    assert counted.get("Query") == 1, counted
