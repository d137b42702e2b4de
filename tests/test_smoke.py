import pytest


@pytest.mark.django_db
def test_me_requires_auth(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_me_with_token(user_client, user):
    response = user_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["id"] == user.pk
