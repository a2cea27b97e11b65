"""Django admin's host form writes only through the hosts services: each changed field audited
with the staff actor, nothing written for an unchanged form, deletion audited too; the digests
the server recorded cannot be deleted from the form."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import AuditEvent
from core.errors import ApplicationError
from hosts.fleetadmin import services
from hosts.models import Host

pytestmark = pytest.mark.django_db

RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}


@pytest.fixture
def staff(client):
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@team.test", None))
    return client


@pytest.fixture
def bound(host, host_client) -> Host:
    """build-01 after one call: bound to 127.0.0.1, with an auth state and a digest."""
    host_client.post("/auth", RETRIEVE, format="json")
    host.refresh_from_db()
    assert host.bound_ip == "127.0.0.1"
    return host


def form(host: Host, **fields: str) -> dict[str, str]:
    """The change form as the browser posts it (inlines included), with `fields` changed."""
    data = {
        "owner": host.owner,
        "status": host.status,
        "bound_ip": host.bound_ip or "",
        "auth_state-TOTAL_FORMS": "1",
        "auth_state-INITIAL_FORMS": "1",
        "auth_state-MIN_NUM_FORMS": "0",
        "auth_state-MAX_NUM_FORMS": "1",
        "auth_state-0-id": str(host.auth_state.pk),
        "auth_state-0-host": str(host.pk),
        "recent_digests-TOTAL_FORMS": "1",
        "recent_digests-INITIAL_FORMS": "1",
        "recent_digests-MIN_NUM_FORMS": "0",
        "recent_digests-MAX_NUM_FORMS": "1000",
        "recent_digests-0-id": str(host.recent_digests.get().pk),
        "recent_digests-0-host": str(host.pk),
    }
    if host.allow_roaming_ips:
        data["allow_roaming_ips"] = "on"
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def host_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith="host.").order_by("id"))


def test_each_changed_field_goes_through_its_audited_service(staff, bound):
    url = f"/django-admin/hosts/host/{bound.pk}/change/"

    response = staff.post(
        url,
        form(bound, owner="bob", status="disabled", bound_ip="", allow_roaming_ips="on"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    bound.refresh_from_db()
    assert (bound.owner, bound.status, bound.bound_ip, bound.allow_roaming_ips) == (
        "bob",
        "disabled",
        None,
        True,
    )
    events = {event.action: event for event in host_events()}
    assert set(events) == {"host.owner", "host.status", "host.roaming", "host.bind_ip"}
    assert all(event.actor == "staff:ops" for event in events.values())
    assert events["host.owner"].meta == {
        "host_id": bound.pk,
        "fqdn": "build-01",
        "owner": "bob",
        "previous": "alice",
    }
    assert events["host.bind_ip"].meta["previous"] == "127.0.0.1"
    assert events["host.bind_ip"].meta["bound_ip"] is None


def test_an_unchanged_form_writes_and_audits_nothing(staff, bound):
    before = Host.objects.values().get(pk=bound.pk)

    response = staff.post(f"/django-admin/hosts/host/{bound.pk}/change/", form(bound))

    assert response.status_code == 302
    assert Host.objects.values().get(pk=bound.pk) == before
    assert host_events() == []


def test_recorded_digests_cannot_be_deleted_from_the_form(staff, bound):
    digest = bound.recent_digests.get()

    staff.post(
        f"/django-admin/hosts/host/{bound.pk}/change/",
        form(bound, **{"recent_digests-0-DELETE": "on"}),
    )

    assert bound.recent_digests.filter(pk=digest.pk).exists()


def test_deleting_a_host_in_the_admin_is_audited(staff, bound):
    response = staff.post(f"/django-admin/hosts/host/{bound.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Host.objects.filter(pk=bound.pk).exists()
    (event,) = host_events()
    assert (event.action, event.actor) == ("host.delete", "staff:ops")


def test_only_operator_owned_fields_can_be_set(bound):
    with pytest.raises(ApplicationError) as refused:
        services.host_fields_set(host_id=bound.pk, changes={"api_key_hash": "x"}, actor="t")

    assert refused.value.fields == {"api_key_hash": "Not an operator-owned field."}
    assert host_events() == []
