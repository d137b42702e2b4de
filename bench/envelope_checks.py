"""What the red-envelope rows did, checked once gunicorn has stopped (bench/run.py runs
bench/envelope_grab_check.py and bench/envelope_empty_check.py, which call these).

`envelope_books` is the books of one envelope: as many share rows as the envelope's count,
the shares' amounts (grabbed + ungrabbed) summing to its pool, as many winners (distinct users)
as grabbed shares (no user twice); then the grabbed money is posted (`envelope_grabs_post`
until it posts 0) and every winner's wallet must equal their share (the bench's grabbers have
no other money), the escrow what nobody grabbed, and the whole ledger audit balanced.
"""
from __future__ import annotations

from django.db.models import Count, Q, Sum

from bench.seed_envelopes import post_all
from campaigns.models import EnvelopeShare, RedEnvelope
from campaigns.services.envelope_state import envelope_escrow_account
from ledger.models import Account, AccountKind
from ledger.selectors import ledger_audit


def envelope_books(envelope_id: int, *, post: bool = True) -> dict:
    """{"shares", "grabbed", "winners", "posted", "left_fen", "problems": [...]} of one envelope."""
    env = RedEnvelope.objects.get(pk=envelope_id)
    shares = EnvelopeShare.objects.filter(envelope_id=envelope_id)
    figures = shares.aggregate(n=Count("id"), pool=Sum("amount_fen"), grabbed=Count("id", filter=Q(user__isnull=False)),
                               winners=Count("user", distinct=True),
                               grabbed_fen=Sum("amount_fen", filter=Q(user__isnull=False)),
                               left_fen=Sum("amount_fen", filter=Q(user__isnull=True)))
    problems = []
    if figures["n"] != env.count:
        problems.append(f"{figures['n']:,} share rows for an envelope of {env.count:,}")
    grabbed_fen, left_fen = figures["grabbed_fen"] or 0, figures["left_fen"] or 0
    if grabbed_fen + left_fen != env.pool_fen:
        problems.append(f"grabbed {grabbed_fen:,} + ungrabbed {left_fen:,} fen ≠ pool {env.pool_fen:,}")
    if figures["winners"] != figures["grabbed"]:
        problems.append(f"{figures['grabbed']:,} shares grabbed by {figures['winners']:,} users (someone twice)")
    posted = post_all(envelope_id) if post else 0
    unposted = shares.filter(user__isnull=False, posting__isnull=True).count()
    if post and unposted:
        problems.append(f"{unposted:,} grabbed shares still unposted")
    if post:
        wallets = dict(Account.objects.filter(kind=AccountKind.USER_WALLET, owner__in=shares.filter(
            user__isnull=False).values("user")).values_list("owner_id", "balance_fen"))
        wrong = [(u, a, wallets.get(u)) for u, a in shares.filter(user__isnull=False).values_list("user_id",
                                                                                                "amount_fen")
                 if wallets.get(u) != a]
        if wrong:
            problems.append(f"{len(wrong):,} winners' wallets differ from their share, e.g. (user, share, wallet) "
                            f"{wrong[:3]}")
        escrow = Account.objects.get(pk=envelope_escrow_account(envelope_id=envelope_id).pk).balance_fen
        if escrow != left_fen:
            problems.append(f"escrow {escrow:,} fen, ungrabbed shares {left_fen:,}")
    audit = ledger_audit()
    if not audit["ok"]:
        problems.append(f"ledger audit FAILED: {audit['mismatched_accounts'][:2]} "
                        f"{audit['unbalanced_transactions'][:2]}")
    return {"shares": figures["n"], "grabbed": figures["grabbed"], "winners": figures["winners"], "posted": posted,
            "left_fen": left_fen, "pool_fen": env.pool_fen, "status": env.status, "audit_ok": audit["ok"],
            "problems": problems}


def _sum(runs: list[dict], key: str) -> int:
    return sum(r.get(key, 0) for r in runs)


def grab_check(*, seed: dict, runs: list[dict], connections: int) -> dict:
    """The row while shares last: every 200 is a share in the database, the shares lasted, the books."""
    books = envelope_books(seed["envelope_id"])
    problems = list(books["problems"])
    measured = runs[-1] if runs else {}
    ok = _sum(runs, "ok")
    unseen = books["grabbed"] - ok  # the pre-check's, and grabs cut off at the end of a run
    if not 1 <= unseen <= 1 + connections * len(runs):
        problems.append(f"{books['grabbed']:,} shares grabbed, {ok:,} answers 200 seen (expected 1 to "
                        f"{1 + connections * len(runs)} more: the pre-check and requests cut off at a run's end)")
    if _sum(runs, "wraps"):
        problems.append(f"{_sum(runs, 'wraps'):,} requests past the last token (users asking again): raise "
                        "BENCH_ENVELOPE_SHARES")
    if not books["left_fen"]:
        problems.append("the envelope ran out during the row: raise BENCH_ENVELOPE_SHARES")
    unexpected = measured.get("responses", 0) - measured.get("ok", 0)
    text = (f"the measured run got {measured.get('ok', 0):,} answers 200 of {measured.get('responses', 0):,}; over "
            f"the pre-check, warm-up and measured runs {books['grabbed']:,} of the {books['shares']:,} shares were "
            f"grabbed by as many distinct users ({books['winners']:,} winners, none twice); grabbed + ungrabbed "
            f"amounts = the pool ({books['pool_fen']:,} fen); after posting ({books['posted']:,} shares, "
            "`envelope_grabs_post` until 0) every winner's wallet equals their share and the escrow holds the "
            f"{books['left_fen']:,} fen nobody grabbed; ledger audit {'balanced' if books['audit_ok'] else 'FAILED'}")
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {"check": text, "check_failed": bool(problems), "http_errors": unexpected,
            "grabbed": books["grabbed"], "shares": books["shares"]}


def empty_check(*, seed: dict, runs: list[dict]) -> dict:
    """The row once empty: every answer a 409 (already_grabbed for winners, envelope_empty for
    newcomers), nothing grabbed or moved."""
    books = envelope_books(seed["envelope_id"])
    problems = list(books["problems"])
    measured = runs[-1] if runs else {}
    if books["grabbed"] != seed["shares"] or books["posted"]:
        problems.append(f"{books['grabbed']:,} shares grabbed (seeded {seed['shares']:,}), {books['posted']} "
                        "posted during the row")
    expected = measured.get("already_grabbed", 0) + measured.get("envelope_empty", 0)
    unexpected = measured.get("responses", 0) - expected
    if _sum(runs, "ok") or _sum(runs, "other") or _sum(runs, "other_409"):
        problems.append(f"answers other than the two 409s: {_sum(runs, 'ok')} × 200, {_sum(runs, 'other_409')} "
                        f"other 409s, {_sum(runs, 'other')} others")
    text = (f"the measured run got {measured.get('already_grabbed', 0):,} × 409 already_grabbed (winners asking "
            f"again) and {measured.get('envelope_empty', 0):,} × 409 envelope_empty (newcomers) of "
            f"{measured.get('responses', 0):,} — 409 is this row's expected answer, counted as success; the "
            f"envelope still has its {books['grabbed']:,} winners, none twice, nothing posted during the row, "
            f"books as above; ledger audit {'balanced' if books['audit_ok'] else 'FAILED'}")
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {"check": text, "check_failed": bool(problems), "http_errors": unexpected}
