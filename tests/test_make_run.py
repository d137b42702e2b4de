"""`make run` as a new user meets it (scripts/run.sh): on another PORT the sandbox, OAuth and the
printed URLs follow the port (no 502 at login), click counts appear without anyone running a job
(the periodic jobs run in the serving process), demo_story runs against it, and Ctrl-C stops it.

It starts the real script in its own process on a fresh SQLite file without Redis (as on a new
machine) and a free port; it runs once per suite, on the PostgreSQL pass."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "run-Pass-2026"

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="once per suite (the PostgreSQL pass)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, step: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.fixture
def make_run(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL="",
        CELERY_BROKER_URL="",
        MEDIA_ROOT=str(tmp_path / "media"),
        DEMO_OPERATOR_PASSWORD=PASSWORD,
        DEV_JOBS_FIRST_DELAY="25",
        PYTHON=sys.executable,
    )
    env.pop("PUBLIC_BASE_URL", None)
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/livez", timeout=2).status_code == 200
        except requests.RequestException:
            return proc.poll() is not None  # stop waiting when it died

    _wait(up, 120)
    yield proc, base, log
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    log.close()


def _log(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def test_make_run_on_another_port_from_login_to_the_whole_story(make_run, tmp_path):
    proc, base, log = make_run
    assert proc.poll() is None, _log(log)
    port = base.rsplit(":", 1)[1]
    printed = _log(log)
    assert f"{base}/admin/" in printed and f"{base}/h5/" in printed
    assert not re.search(r"127\.0\.0\.1:8000\b", printed)

    # a shopper logs in through the sandbox (the sandbox address follows PORT: no 502)
    code = requests.post(
        f"{base}/wechat-sandbox/oauth/code/", json={"openid": "o-run-1", "nickname": "跑"}, timeout=10
    ).json()["code"]
    login = requests.post(f"{base}/api/v1/auth/wechat/", json={"code": code}, timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    operator = requests.post(
        f"{base}/api/v1/auth/login/", json={"username": "operator", "password": PASSWORD}, timeout=10
    ).json()["token"]
    ops = {"Authorization": f"Bearer {operator}"}

    # a distributor's link is clicked; nobody runs a job, yet the click count appears
    applied = requests.post(
        f"{base}/api/v1/distributors/apply/",
        headers=auth,
        json={"real_name": "跑跑", "phone": "13900000001"},
        timeout=10,
    ).json()
    if applied["status"] == "pending":
        requests.post(f"{base}/api/v1/ops/distributors/{applied['id']}/approve/", headers=ops, json={}, timeout=10)
    product = requests.get(f"{base}/api/v1/products/", timeout=10).json()["results"][0]
    assert product["cover"].startswith(f"{base}/media/demo/")
    picture = requests.get(product["cover"], timeout=10)  # the drawn picture is served
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/png"
    link = requests.post(
        f"{base}/api/v1/share-links/",
        headers=auth,
        timeout=10,
        json={"target_type": "product", "target_id": product["id"]},
    ).json()
    assert link["url"] == f"{base}/s/{link['code']}"
    visit = requests.get(link["url"], allow_redirects=False, timeout=10)
    assert visit.status_code == 302 and visit.headers["Location"].startswith(f"http://127.0.0.1:{port}/h5/")

    def counted():
        row = requests.get(f"{base}/api/v1/share-links/{link['code']}/", headers=auth, timeout=10).json()
        return row["clicks"] == 1

    assert _wait(counted, 60), _log(log)[-3000:]

    # the whole story against make run
    story = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "demo_story",
            "--base",
            base,
            "--password",
            PASSWORD,
            "--distributors",
            "2",
            "--friends",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
    )
    assert story.returncode == 0, story.stdout[-3000:] + story.stderr[-3000:]
    assert "[13/13]" in story.stdout and "ledger audit: ok" in story.stdout

    # Ctrl-C stops the server and its jobs
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(20) is not None
    with pytest.raises(requests.RequestException):
        requests.get(f"{base}/livez", timeout=2)
