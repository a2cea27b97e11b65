from django.urls import path

from accounts import api, views

urlpatterns = [
    path("api/admin/tokens", api.TokenListCreateApi.as_view(), name="admin-tokens"),
    path("api/admin/tokens/<id:token_id>", api.TokenRevokeApi.as_view(), name="admin-token"),
    path("api/admin/audit", api.AuditListApi.as_view(), name="admin-audit"),
    path("login/", views.DashboardLoginView.as_view(), name="login"),
    path("logout/", views.DashboardLogoutView.as_view(), name="logout"),
]
