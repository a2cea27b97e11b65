"""Dashboard pages: the overview at `/`, everything else under `/dashboard/` (the bare names
`/usage`, `/auth`, `/admin/`, `/slash-commands` belong to the fleet API, see core.errors)."""

from django.urls import path

from dashboard.views import admin, fleet, hosts, usage

app_name = "dashboard"

urlpatterns = [
    path("", usage.overview, name="overview"),
    path("dashboard/live/overview", usage.overview_live, name="overview-live"),
    path("dashboard/usage/", usage.usage, name="usage"),
    path("dashboard/users/<path:name>", usage.user, name="user"),
    path("dashboard/hosts/", hosts.hosts, name="hosts"),
    path("dashboard/hosts/<int:host_id>/", hosts.host, name="host"),
    path("dashboard/hosts/<int:host_id>/rotate", hosts.host_rotate, name="host-rotate"),
    path("dashboard/hosts/<int:host_id>/roaming", hosts.host_roaming, name="host-roaming"),
    path("dashboard/hosts/<int:host_id>/status", hosts.host_status, name="host-status"),
    path("dashboard/hosts/<int:host_id>/clear", hosts.host_clear, name="host-clear"),
    path("dashboard/hosts/<int:host_id>/delete", hosts.host_delete, name="host-delete"),
    path("dashboard/auth/", fleet.auth, name="auth"),
    path("dashboard/slash-commands/", fleet.slash, name="slash"),
    path("dashboard/slash-commands/retire", fleet.slash_retire, name="slash-retire"),
    path("dashboard/quota/", fleet.quota, name="quota"),
    path("dashboard/runner/", fleet.runner, name="runner"),
    path("dashboard/tokens/", admin.tokens, name="tokens"),
    path("dashboard/tokens/<int:token_id>/revoke", admin.token_revoke, name="token-revoke"),
    path("dashboard/embed-origins/", admin.embed, name="embed"),
    path("dashboard/embed-origins/<int:origin_id>/remove", admin.embed_remove, name="embed-remove"),
    path("dashboard/audit/", admin.audit, name="audit"),
    path("dashboard/settings/", admin.settings_page, name="settings"),
    path("dashboard/settings/api-state", admin.api_state, name="api-state"),
    path("dashboard/settings/prices", admin.price_add, name="price-add"),
    path("dashboard/settings/prices/refresh", admin.prices_refresh, name="prices-refresh"),
]
