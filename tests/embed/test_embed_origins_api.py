from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from embed.models import EmbedOrigin

pytestmark = pytest.mark.django_db

URL = "/api/admin/embed-origins"


def test_it_adds_a_normalised_origin_and_audits_it(client_for, admin_token):
    response = client_for(admin_token).post(
        URL, {"origin": "HTTPS://Board.Example.com:443/", "label": "wall screen"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["origin"] == "https://board.example.com"
    assert body["label"] == "wall screen"
    assert set(body) == {"id", "origin", "label", "createdAt"}
    assert body["createdAt"].endswith("Z")
    assert EmbedOrigin.objects.get(pk=body["id"]).origin == "https://board.example.com"
    event = AuditEvent.objects.get(action="embed_origin.add")
    assert event.meta["origin"] == "https://board.example.com"
    assert event.meta["id"] == body["id"]
    assert event.actor.startswith("token:")


def test_it_lists_origins(client_for, admin_token):
    client = client_for(admin_token)
    client.post(URL, {"origin": "https://b.example"}, format="json")
    client.post(URL, {"origin": "http://a.example:8080", "label": "dev"}, format="json")
    response = client.get(URL)
    assert response.status_code == 200
    origins = response.json()["origins"]
    assert [row["origin"] for row in origins] == ["http://a.example:8080", "https://b.example"]
    assert origins[0]["label"] == "dev"


@pytest.mark.parametrize(
    "second",
    ["https://board.example.com", "https://BOARD.example.com/", "https://board.example.com:443"],
)
def test_it_answers_409_for_a_duplicate_after_normalising(client_for, admin_token, second):
    client = client_for(admin_token)
    assert (
        client.post(URL, {"origin": "https://board.example.com"}, format="json").status_code == 201
    )
    response = client.post(URL, {"origin": second}, format="json")
    assert response.status_code == 409
    assert "already" in response.json()["error"]
    assert EmbedOrigin.objects.count() == 1
    assert AuditEvent.objects.filter(action="embed_origin.add").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"origin": "https://board.example.com/wall"},
        {"origin": "board.example.com"},
        {"origin": "https://board.example.com?x=1"},
        {"origin": "https://user@board.example.com"},
        {"origin": "ftp://board.example.com"},
        {"origin": ""},
        {"origin": 42},
        {"label": "no origin"},
        {"origin": "https://board.example.com", "label": "x" * 201},
    ],
)
def test_it_answers_400_for_anything_that_is_not_an_origin(client_for, admin_token, body):
    response = client_for(admin_token).post(URL, body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "Invalid request."
    assert set(payload["fields"]) <= {"origin", "label"} and payload["fields"]
    assert EmbedOrigin.objects.count() == 0


def test_it_answers_400_for_a_body_that_is_not_an_object(client_for, admin_token):
    response = client_for(admin_token).post(URL, ["https://a.example"], format="json")
    assert response.status_code == 400


def test_it_deletes_with_204_and_audits(client_for, admin_token):
    client = client_for(admin_token)
    origin_id = client.post(URL, {"origin": "https://board.example.com"}, format="json").json()[
        "id"
    ]
    response = client.delete(f"{URL}/{origin_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert not EmbedOrigin.objects.exists()
    event = AuditEvent.objects.get(action="embed_origin.remove")
    assert event.meta == {"id": origin_id, "origin": "https://board.example.com", "label": ""}
    assert client.delete(f"{URL}/{origin_id}").status_code == 404


@pytest.mark.parametrize("fixture", [None, "read_token", "embed_token", "alice_ingest_token"])
def test_it_needs_an_admin_token(request, client_for, fixture):
    token = request.getfixturevalue(fixture) if fixture else None
    client = client_for(token)
    expected = 401 if token is None else 403
    assert client.get(URL).status_code == expected
    assert client.post(URL, {"origin": "https://a.example"}, format="json").status_code == expected
    assert not EmbedOrigin.objects.exists()
