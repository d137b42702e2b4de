"""The WeChat Pay APIv3 rows of `make bench` (bench/wechat_v3_bench.py) at a tiny scale, on PostgreSQL:
the seeds are paid each exactly once through both notification paths (v2 XML, v3 JSON), the
section renders from what was measured, and the check that guards the figures can fail. No timing
is asserted; `make bench` itself is what measures.
"""
from __future__ import annotations

from collections import Counter

import pytest

from bench import wechat_v3_bench as wb
from wechat import hooks
from wechat.models import PaymentStatus, WechatEvent, WechatPayment

N, REPS = 3, 2


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(wb, "WARMUP", 2)
    monkeypatch.setattr(wb, "QUERY_SAMPLE", 2)
    monkeypatch.setattr(wb, "PROFILE_N", 3)
    monkeypatch.setattr(wb, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(wb, "REPS", REPS)


def _state() -> list[tuple]:
    return list(WechatPayment.objects.order_by("pk").values_list("pk", "status", "notify_count", "transaction_id"))


@pytest.mark.postgres
@pytest.mark.django_db
def test_seeds_are_paid_once_on_both_paths_and_the_section_renders(tiny):
    before = list(hooks.payment_paid.subscribers(wb.PURPOSE))
    seeded = wb.seed(n=N, reps=REPS)
    # per API: warm-up 2, REPS × N timed, query sample 2; v3 also the profile set (3)
    assert seeded["payments"] == {"v2": 2 + REPS * N + 2, "v3": 2 + REPS * N + 2 + 3}
    nothing_yet = wb.check(n=N, reps=REPS)
    assert nothing_yet["check_failed"]  # nothing paid: the check says so
    assert "0 of 10 payments paid" in nothing_yet["check"]

    notified = wb.notify(reps=REPS)
    assert hooks.payment_paid.subscribers(wb.PURPOSE) == before  # the counting handler is gone again
    assert notified["answers"] == {"v2 SUCCESS": 10, "v3 SUCCESS": 13}
    assert notified["handler"] == {"payments": 23, "calls": 23, "max_per_payment": 1}
    for api in wb.APIS:
        a = notified["apis"][api]
        assert a["notifications"] == [N] * REPS and a["reps"] == REPS
        assert len(a["notifications_per_s"]) == REPS and a["us"] > 0
        assert len(notified["queries"][api]["per_notification"]) == 2
        assert min(notified["queries"][api]["per_notification"]) > 0
    assert any("wechat_wechatevent" in s for s in notified["queries"]["v3"]["statements"])
    assert notified["profile"]["notifications"] == 3 and notified["profile"]["top"]
    assert set(WechatPayment.objects.filter(purpose=wb.PURPOSE).values_list("status", flat=True)) == {
        PaymentStatus.PAID}
    for payment in WechatPayment.objects.filter(purpose=wb.PURPOSE):
        assert payment.transaction_id == wb._transaction_id(payment)
        assert payment.notify_count == 1
        assert payment.api == payment.out_trade_no[2:4]

    result = wb.check(n=N, reps=REPS, notified=notified)
    assert not result["check_failed"], result["check"]
    assert "23 of 23 seeded payments (10 v2, 13 v3) paid exactly once" in result["check"]

    primitives = wb.primitives()
    keys = [r["key"] for r in primitives["rows"]]
    assert {"v2_notify", "v3_callback", "v3_authorization", "v3_signature_valid", "v2_jsapi", "v3_jsapi", "v3_oaep",
            "rsa_verify"} <= set(keys)
    assert all(r["reps"] == REPS and r["us"] > 0 for r in primitives["rows"])
    results = {"date": "2026-01-01 00:00 UTC", "cores": 2, "load_start": "0.1 0.1 0.1", "load_notify": "0.1 0.1 0.1",
               "load_end": "0.1 0.1 0.1", "primitives": primitives, "seed": seeded, "notify": notified, **result}
    text = wb.section(results)
    assert text.startswith(wb.SECTION_START) and text.rstrip().endswith(wb.SECTION_END)
    assert "| v2 | 3 |" in text and "| v3 | 3 |" in text
    assert result["check"] in text
    assert "per notification on this machine, so crypto alone allows at most" in text
    assert "| APIv3 callback open | v3 |" in text
    assert wb.failed(results) == []

    document = "# Benchmarks\n\nbefore\n\n" + wb.SECTION_START + "\nSTALE-SECTION\n" + wb.SECTION_END + "\n\nafter\n"
    spliced = wb.splice(document, text)
    assert "STALE-SECTION" not in spliced and "before" in spliced and "after" in spliced
    assert spliced.count(wb.SECTION_START) == 1
    assert wb.splice("# Benchmarks\n", text).endswith(text)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_check_fails_when_a_payment_is_not_paid_once_or_an_answer_was_not_success(tiny):
    wb.seed(n=N, reps=REPS)
    notified = wb.notify(reps=REPS)
    assert not wb.check(n=N, reps=REPS, notified=notified)["check_failed"]

    bad_answers = {**notified, "answers": {**notified["answers"], "v3 SUCCESS": 12, "v3 InvalidSignature": 1}}
    assert "answers" in wb.check(n=N, reps=REPS, notified=bad_answers)["check"]
    twice = {**notified, "handler": {"payments": 23, "calls": 24, "max_per_payment": 2}}
    assert wb.check(n=N, reps=REPS, notified=twice)["check_failed"]

    one = WechatPayment.objects.filter(purpose=wb.PURPOSE, api="v3").order_by("pk").first()
    WechatPayment.objects.filter(pk=one.pk).update(notify_count=2)  # as if notified twice
    assert "v3: 12 of 13 payments paid with one notification" in wb.check(n=N, reps=REPS)["check"]
    WechatPayment.objects.filter(pk=one.pk).update(notify_count=1, transaction_id="4200999")
    assert "1 payments carry another transaction_id" in wb.check(n=N, reps=REPS)["check"]
    WechatPayment.objects.filter(pk=one.pk).update(transaction_id=wb._transaction_id(one))
    WechatEvent.objects.filter(subject_id=one.pk, to_status=PaymentStatus.PAID).delete()
    assert "22 of 23 payments have exactly one paid status event" in wb.check(n=N, reps=REPS)["check"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_refused_notification_is_counted_as_an_error_and_changes_nothing(tiny):
    """The answers tally that guards the figures sees refusals: a v3 body tampered after signing and
    a v2 body signed with another key are refused, nothing is paid, and the tally says so."""
    wb.seed(n=N, reps=REPS)
    before = _state()
    hooks.register_payment_handler(wb.PURPOSE, handler := wb._Handler())
    try:
        with wb.public_key_mode():
            [(v3_call, _pk)] = wb._bodies("v3", wb._payments("v3", "r0")[:1])
            v3_call["body"] = v3_call["body"].replace(b'"summary":"', b'"summary":"x')
            [(v2_call, _pk)] = wb._bodies("v2", wb._payments("v2", "r0")[:1])
            v2_call["body"] = v2_call["body"].replace(b"<sign><![CDATA[", b"<sign><![CDATA[0")
            tally: Counter = Counter()
            wb._pay("v3", [(v3_call, 0)], tally)
            wb._pay("v2", [(v2_call, 0)], tally)
    finally:
        hooks.unregister_payment_handler(wb.PURPOSE, handler)
    assert tally == {"v3 InvalidSignature": 1, "v2 InvalidSignature": 1}
    assert not handler.calls
    assert _state() == before
