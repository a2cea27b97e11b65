"""GET /slash-commands, POST /slash-commands/retrieve and /slash-commands/store."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import FleetSetting, SlashCommand

pytestmark = pytest.mark.django_db

REVIEW = (
    "---\n"
    "description: Review the staged diff\n"
    'argument-hint: "[focus area]"\n'
    "---\n"
    "Review the staged changes with attention to $ARGUMENTS.\n"
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store(client, **body):
    return client.post("/slash-commands/store", body, format="json")


def _retrieve(client, **body):
    return client.post("/slash-commands/retrieve", body, format="json")


def test_it_creates_then_reports_unchanged_then_updates(host_client, host):
    created = _store(host_client, filename="review.md", prompt=REVIEW)
    assert created.status_code == 200
    data = created.json()["data"]
    assert data["status"] == "created"
    assert data["sha256"] == _sha(REVIEW)
    assert data["description"] == "Review the staged diff"
    assert data["argument_hint"] == "[focus area]"
    assert data["filename"] == "review.md"
    row = SlashCommand.objects.get(filename="review.md")
    assert row.prompt == REVIEW and row.source_host_id == host.pk

    same = _store(host_client, filename="review.md", prompt=REVIEW, sha256=_sha(REVIEW))
    assert same.json()["data"]["status"] == "unchanged"

    edited = REVIEW + "Be brief.\n"
    updated = _store(host_client, filename="review.md", prompt=edited).json()["data"]
    assert updated["status"] == "updated" and updated["sha256"] == _sha(edited)
    assert SlashCommand.objects.get(filename="review.md").prompt == edited

    events = AuditEvent.objects.filter(action="slash.store").order_by("id")
    assert [event.meta["status"] for event in events] == ["created", "updated"]
    assert events[1].meta["previous_sha256"] == _sha(REVIEW)
    assert all(event.actor == "host:build-01" for event in events)


def test_it_prefers_explicit_description_and_hint_over_front_matter(host_client):
    data = _store(
        host_client,
        filename="review.md",
        prompt=REVIEW,
        description="Explicit",
        argument_hint="<path>",
    ).json()["data"]
    assert (data["description"], data["argument_hint"]) == ("Explicit", "<path>")
    # Same prompt, no explicit values: the stored ones stay.
    again = _store(host_client, filename="review.md", prompt=REVIEW).json()["data"]
    assert again["status"] == "unchanged" and again["description"] == "Explicit"
    # Same prompt, a new explicit description: that is an update.
    changed = _store(host_client, filename="review.md", prompt=REVIEW, description="New")
    assert changed.json()["data"]["status"] == "updated"
    assert SlashCommand.objects.get(filename="review.md").description == "New"


def test_it_reads_no_metadata_from_a_prompt_without_front_matter(host_client):
    data = _store(host_client, filename="plain.md", prompt="Just do it.\n").json()["data"]
    assert data["description"] == "" and data["argument_hint"] == ""
    unclosed = "---\ndescription: never closed\nbody\n"
    data = _store(host_client, filename="unclosed.md", prompt=unclosed).json()["data"]
    assert data["description"] == ""


def test_it_refuses_a_sha256_that_does_not_match(host_client):
    response = _store(host_client, filename="review.md", prompt=REVIEW, sha256="0" * 64)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error" and "sha256" in body["errors"]
    malformed = _store(host_client, filename="review.md", prompt=REVIEW, sha256="abc")
    assert malformed.status_code == 422
    assert not SlashCommand.objects.exists()
    # An empty digest is no digest; upper-case hex of the right one is the same digest.
    assert _store(host_client, filename="empty.md", prompt="e\n", sha256="").status_code == 200
    ok = _store(host_client, filename="review.md", prompt=REVIEW, sha256=_sha(REVIEW).upper())
    assert ok.json()["data"]["status"] == "created"


def test_it_retrieves_missing_unchanged_and_updated(host_client):
    missing = _retrieve(host_client, filename="review.md")
    assert missing.status_code == 200
    assert missing.json()["data"] == {"status": "missing", "filename": "review.md"}

    _store(host_client, filename="review.md", prompt=REVIEW)
    unchanged = _retrieve(host_client, filename="review.md", sha256=_sha(REVIEW)).json()["data"]
    assert unchanged["status"] == "unchanged"
    assert "prompt" not in unchanged
    assert unchanged["sha256"] == _sha(REVIEW)

    for digest in ("f" * 64, None):
        body = {"filename": "review.md"} | ({"sha256": digest} if digest else {})
        updated = _retrieve(host_client, **body).json()["data"]
        assert updated["status"] == "updated"
        assert updated["prompt"] == REVIEW
        assert updated["description"] == "Review the staged diff"
        assert updated["argument_hint"] == "[focus area]"
        assert updated["updated_at"].endswith("Z")


def test_it_lists_commands_without_their_prompts(host_client):
    _store(host_client, filename="zeta.md", prompt="z\n")
    _store(host_client, filename="review.md", prompt=REVIEW)
    response = host_client.get("/slash-commands")
    assert response.status_code == 200
    commands = response.json()["data"]["commands"]
    assert [command["filename"] for command in commands] == ["review.md", "zeta.md"]
    assert set(commands[0]) == {"filename", "sha256", "description", "argument_hint", "updated_at"}
    assert commands[0]["sha256"] == _sha(REVIEW)


@pytest.mark.parametrize(
    "filename",
    [
        "",
        "..",
        ".",
        "../etc/passwd",
        "a..b.md",
        "dir/review.md",
        "dir\\review.md",
        "re view.md",
        "review.md\n",
        "révision.md",
        "x" * 256,
        "$(id).md",
    ],
)
def test_it_refuses_bad_filenames(host_client, filename):
    stored = _store(host_client, filename=filename, prompt="p\n")
    assert stored.status_code == 422
    assert "filename" in stored.json()["errors"]
    retrieved = _retrieve(host_client, filename=filename)
    assert retrieved.status_code == 422
    assert not SlashCommand.objects.exists()


@pytest.mark.parametrize("filename", ["review.md", "a", "x" * 255, "my_cmd-v2.MD", ".hidden"])
def test_it_accepts_good_filenames(host_client, filename):
    assert _store(host_client, filename=filename, prompt="p\n").json()["data"]["status"] == (
        "created"
    )


def test_it_needs_a_prompt(host_client):
    response = _store(host_client, filename="review.md")
    assert response.status_code == 422
    assert "prompt" in response.json()["errors"]


def test_it_needs_a_host_key_and_an_enabled_api(host_client, host):
    missing = APIClient().get("/slash-commands")
    assert missing.status_code == 401
    assert missing.json()["message"] == "API key missing"
    FleetSetting.objects.create(key="api_disabled", value=True)
    for response in (
        host_client.get("/slash-commands"),
        _retrieve(host_client, filename="review.md"),
        _store(host_client, filename="review.md", prompt=REVIEW),
    ):
        assert response.status_code == 503
        assert response.json()["message"] == "API disabled by administrator"
    assert not SlashCommand.objects.exists()
