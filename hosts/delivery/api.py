"""Fleet-dialect views: host registration, installer, wrapper delivery, slash commands, /usage."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from rest_framework import serializers

from accounts.authentication import record_auth_failure, refuse_if_ip_blocked
from accounts.services import request_actor
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.hashing import sha256_hex
from core.time import iso
from hosts.api_base import FleetAdminView, FleetHostView, FleetPublicView, admin_actor, ok
from hosts.delivery import selectors, services
from hosts.delivery.installer import installer_link
from hosts.delivery.prompts import SHA256_RE, filename_error
from hosts.delivery.telemetry import usage_entries_parse
from hosts.models import SlashCommand
from hosts.serializers import host_data
from hosts.wrapper.bake import WRAPPER_VERSION, BakeError, bake, fqdn_error, wrapper_metadata

PROMPT_MAX_CHARS = 256 * 1024


def _baking_failed(exc: BakeError) -> ApplicationError:
    return ApplicationError(f"Wrapper cannot be built: {exc}", status_code=500)


class HostRegisterApi(FleetAdminView):
    class InputSerializer(serializers.Serializer):
        fqdn = serializers.CharField(max_length=300)
        owner = serializers.CharField(max_length=100, required=False, allow_blank=True)

        def validate_fqdn(self, value: str) -> str:
            value = value.strip().lower()
            problem = fqdn_error(value)
            if problem:
                raise serializers.ValidationError(problem)
            return value

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.host_register(
            fqdn=data.validated_data["fqdn"],
            owner=data.validated_data.get("owner"),
            actor=admin_actor(request),
            ip=client_ip(request),
        )
        url, command = installer_link(registration.installer_token)
        return ok(
            {
                "host": {
                    **host_data(registration.host, admin=True),
                    "api_key": registration.api_key,
                },
                "installer": {
                    "token": registration.installer_token,
                    "url": url,
                    "command": command,
                    "expires_at": iso(registration.installer.expires_at),
                },
                "rotated": registration.rotated,
            },
            status=201,
        )


class InstallerApi(FleetPublicView):
    def get(self, request, token: str):
        refuse_if_ip_blocked(request)
        try:
            _host, script = services.installer_consume(token=token, ip=client_ip(request))
        except ApplicationError as exc:
            if exc.status_code == 404:
                # Guessing links counts against the caller like a bad key does.
                record_auth_failure(
                    request, reason="unknown installer token", credential_kind="installer"
                )
            raise
        response = HttpResponse(script, content_type="text/x-shellscript; charset=utf-8")
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class WrapperMetadataApi(FleetHostView):
    def get(self, request):
        try:
            return ok(wrapper_metadata(host=request.auth))
        except BakeError as exc:
            raise _baking_failed(exc) from exc


class WrapperDownloadApi(FleetHostView):
    def get(self, request):
        try:
            body = bake(host=request.auth)
        except BakeError as exc:
            raise _baking_failed(exc) from exc
        digest = sha256_hex(body)
        etag = f'"{digest}"'
        presented = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
        if etag in presented or "*" in presented:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(body, content_type="application/octet-stream")
            response["Content-Disposition"] = 'attachment; filename="cdx"'
        response["ETag"] = etag
        response["X-SHA256"] = digest
        response["X-Wrapper-Version"] = WRAPPER_VERSION
        # Per host (base URL + FQDN) and replaced on every release: not for shared caches.
        response["Cache-Control"] = "private, no-store"
        return response


def _command_data(command: SlashCommand) -> dict:
    return {
        "filename": command.filename,
        "sha256": command.sha256,
        "description": command.description,
        "argument_hint": command.argument_hint,
        "updated_at": iso(command.updated_at),
    }


class _FilenameField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = filename_error(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class _Sha256Field(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).lower()
        if not value:
            return None
        if not SHA256_RE.fullmatch(value):
            raise serializers.ValidationError("Must be 64 hexadecimal characters.")
        return value


class SlashCommandListApi(FleetHostView):
    def get(self, request):
        commands = selectors.slash_command_list()
        return ok({"commands": [_command_data(command) for command in commands]})


class SlashCommandRetrieveApi(FleetHostView):
    class InputSerializer(serializers.Serializer):
        filename = _FilenameField()
        sha256 = _Sha256Field()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        filename = data.validated_data["filename"]
        command = selectors.slash_command_get(filename=filename)
        if command is None:
            return ok({"status": "missing", "filename": filename})
        if command.deleted_at is not None:
            # Retired by an admin: the client removes its copy.
            return ok({"status": "deleted", "filename": filename})
        if data.validated_data.get("sha256") == command.sha256:
            return ok({"status": "unchanged", **_command_data(command)})
        return ok({"status": "updated", **_command_data(command), "prompt": command.prompt})


class SlashCommandStoreApi(FleetHostView):
    class InputSerializer(serializers.Serializer):
        filename = _FilenameField()
        prompt = serializers.CharField(trim_whitespace=False, max_length=PROMPT_MAX_CHARS)
        description = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=500
        )
        argument_hint = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=255
        )
        sha256 = _Sha256Field()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        stored = services.slash_command_store(
            filename=values["filename"],
            prompt=values["prompt"],
            description=values.get("description"),
            argument_hint=values.get("argument_hint"),
            sha256=values.get("sha256") or None,
            host=request.auth,
            actor=request_actor(request),
            ip=client_ip(request),
        )
        return ok({"status": stored.status, **_command_data(stored.command)})


class CodexUsageApi(FleetHostView):
    """Token usage telemetry from `cdx`: one entry, or `{"usages": [...]}`."""

    def post(self, request):
        parsed = usage_entries_parse(request.data, max_entries=settings.INGEST_MAX_BATCH)
        host = request.auth
        results = services.codex_usage_record(
            host=host, entries=parsed.entries, rejected=parsed.rejected, ip=client_ip(request)
        )
        return ok(
            {
                "host_id": host.pk,
                "recorded": sum(1 for result in results if result.recorded),
                "usages": [
                    {
                        "id": result.entry.client_id,
                        "message_id": result.message_id,
                        "recorded": result.recorded,
                        "model": result.entry.model,
                        "total": result.entry.total,
                        "input": result.entry.input,
                        "cached": result.entry.cached,
                        "output": result.entry.output,
                        "reasoning": result.entry.reasoning,
                        "line": result.entry.line,
                    }
                    for result in results
                ],
                "rejected": parsed.rejected,
            }
        )
