"""bench/qr_gen.py (uncached image generation for `make bench`): it renders what it claims and
its report section is well formed. No timing is asserted."""
from __future__ import annotations

from bench import qr_gen
from bench.endpoints import ENDPOINTS


def test_each_kind_renders_real_images():
    for kind in qr_gen.KINDS:
        render = qr_gen._renderer(kind)
        body = render()
        if kind == "qr svg":
            assert body.lstrip().startswith(b"<?xml") and b"<path" in body
        else:
            assert body.startswith(b"\x89PNG\r\n\x1a\n")
        assert render() != body  # a new share URL each time: no accidental memoisation


def test_measure_counts_renders():
    row = qr_gen.measure("qr png", 0.05)
    assert row["kind"] == "qr png"
    assert row["renders"] >= 1
    assert row["per_second"] > 0 and row["bytes"] > 100


def test_section_lists_every_row():
    rows = [
        {"kind": "qr png", "renders": 10, "seconds": 1.0, "per_second": 10.0, "ms_each": 100.0, "bytes": 640},
        {"kind": "poster png", "renders": 0, "seconds": 1.0, "per_second": 0.0, "ms_each": None, "bytes": 38000},
    ]
    text = qr_gen.section(rows)
    assert "| qr png | 10 | 100.00 | 640 |" in text
    assert "| poster png | 0 | — | 38,000 |" in text


def test_the_cached_qr_row_names_the_seeded_code():
    from bench.seed_links import BENCH_SHARE_CODE
    from distributors.codes import code_normalise

    assert code_normalise(BENCH_SHARE_CODE) == BENCH_SHARE_CODE
    row = next(e for e in ENDPOINTS if e["name"] == "share link QR PNG (cached)")
    assert row["path"] == f"/api/v1/share-links/{BENCH_SHARE_CODE}/qr.png"
