"""Returning visitors for the GET /s/<code> row (called from bench/seed.py): a pool of signed
`fx_vid` cookies, one per line in bench/.work/fx_vid_pool.txt, which bench/short_link.lua sends.
Signed here, with the settings gunicorn runs with (same SECRET_KEY), so the server accepts them."""
from pathlib import Path

from distributors.services.clicks.visitors import visitor_new, visitor_token_make

POOL_SIZE = 2000
POOL_FILE = Path(__file__).resolve().parent / ".work" / "fx_vid_pool.txt"


def seed_visitor_pool(size: int = POOL_SIZE) -> Path:
    POOL_FILE.parent.mkdir(parents=True, exist_ok=True)
    POOL_FILE.write_text("".join(visitor_token_make(visitor=visitor_new()) + "\n" for _ in range(size)))
    return POOL_FILE
