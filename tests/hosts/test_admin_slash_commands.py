"""`GET /admin/slash-commands` and `DELETE /admin/slash-commands/<filename>`: a retired prompt
leaves the lists, answers `deleted` to retrieve (clients remove it) and is not brought back by a
host pushing its old copy; new content under the name is a prompt again."""

from __future__ import annotations

import hashlib

import pytest

from accounts.models import AuditEvent
from hosts.models import SlashCommand

pytestmark = pytest.mark.django_db

PROMPT = "---\ndescription: Review the diff\nargument-hint: [path]\n---\nReview $1 carefully.\n"
SHA = hashlib.sha256(PROMPT.encode()).hexdigest()


@pytest.fixture
def admin(client_for, admin_token):
    return client_for(admin_token)


@pytest.fixture
def stored(host_client):
    response = host_client.post(
        "/slash-commands/store", {"filename": "review.md", "prompt": PROMPT}, format="json"
    )
    assert response.json()["data"]["status"] == "created"


def test_it_lists_the_stored_prompts(admin, stored, host):
    (row,) = admin.get("/admin/slash-commands").json()["data"]["commands"]

    assert row["filename"] == "review.md" and row["sha256"] == SHA
    assert row["description"] == "Review the diff" and row["argument_hint"] == "[path]"
    assert row["source_host_id"] == host.pk
    assert "prompt" not in row


def test_deleting_retires_it_for_every_client(admin, stored, host_client):
    response = admin.delete("/admin/slash-commands/review.md")

    assert response.status_code == 200
    assert response.json()["data"]["deleted"] == "review.md"
    assert admin.get("/admin/slash-commands").json()["data"]["commands"] == []
    assert host_client.get("/slash-commands").json()["data"]["commands"] == []
    retrieved = host_client.post(
        "/slash-commands/retrieve", {"filename": "review.md", "sha256": SHA}, format="json"
    )
    assert retrieved.json()["data"] == {"status": "deleted", "filename": "review.md"}
    event = AuditEvent.objects.get(action="slash.delete")
    assert event.meta == {"filename": "review.md", "sha256": SHA}
    assert event.actor.startswith("token:")


def test_a_host_pushing_its_old_copy_does_not_bring_it_back(admin, stored, host_client):
    admin.delete("/admin/slash-commands/review.md")

    pushed = host_client.post(
        "/slash-commands/store", {"filename": "review.md", "prompt": PROMPT}, format="json"
    )

    assert pushed.json()["data"]["status"] == "deleted"
    assert SlashCommand.objects.get().deleted_at is not None


def test_new_content_under_a_retired_name_is_a_prompt_again(admin, stored, host_client):
    admin.delete("/admin/slash-commands/review.md")

    pushed = host_client.post(
        "/slash-commands/store",
        {"filename": "review.md", "prompt": "Review it again, differently.\n"},
        format="json",
    )

    assert pushed.json()["data"]["status"] == "updated"
    assert [
        row["filename"] for row in host_client.get("/slash-commands").json()["data"]["commands"]
    ] == ["review.md"]


def test_deleting_twice_is_harmless_and_an_unknown_name_is_404(admin, stored):
    admin.delete("/admin/slash-commands/review.md")

    assert admin.delete("/admin/slash-commands/review.md").status_code == 200
    assert AuditEvent.objects.filter(action="slash.delete").count() == 1
    missing = admin.delete("/admin/slash-commands/nope.md")
    assert missing.status_code == 404
    assert missing.json() == {"status": "error", "message": "Slash command not found."}
