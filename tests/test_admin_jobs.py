"""/admin/jobs/ (core/admin.py): the periodic jobs listed in the console, "Run now" for superusers."""

import pytest

from core.jobs import job_list
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_page_lists_every_job_and_runs_one(admin_client):
    page = admin_client.get("/admin/jobs/")
    assert page.status_code == 200
    html = page.content.decode()
    for job in job_list():
        assert f"<code>{job.name}</code>" in html
    res = admin_client.post("/admin/jobs/", {"name": "commissions.settle"})
    assert res.status_code == 200
    assert res["X-Job-Result"] == '{"settled": 0, "batches": 0}'
    assert "commissions.settle" in res.content.decode()


def test_an_unknown_job_is_refused_and_nothing_runs(admin_client):
    res = admin_client.post("/admin/jobs/", {"name": "no.such_job"}, follow=True)
    assert res.status_code == 200
    assert "X-Job-Result" not in res
    assert "Unknown job" in res.content.decode()


def test_staff_without_superuser_may_not_and_anonymous_is_sent_to_login(client):
    res = client.get("/admin/jobs/")
    assert res.status_code == 302 and "/admin/login/" in res["Location"]
    staff = UserFactory(is_staff=True, is_superuser=False)
    client.force_login(staff)
    assert client.get("/admin/jobs/").status_code == 403
    assert client.post("/admin/jobs/", {"name": "commissions.settle"}).status_code == 403


def test_the_console_index_links_the_jobs_page_for_superusers(admin_client, client):
    index = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<a href="/admin/jobs/">立即运行作业</a>' in index
    english = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<a href="/admin/jobs/">Run a job now</a>' in english
    client.force_login(UserFactory(is_staff=True, is_superuser=False))
    assert "/admin/jobs/" not in client.get("/admin/").content.decode()


def test_the_jobs_page_speaks_the_consoles_language(admin_client):
    zh = admin_client.get("/admin/jobs/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'value="立即运行"' in zh and "<title>周期作业 | fenxiao</title>" in zh
    en = admin_client.get("/admin/jobs/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="Run now"' in en and "<title>Periodic jobs | fenxiao</title>" in en
