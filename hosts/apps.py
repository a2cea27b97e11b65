from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"

    def ready(self) -> None:
        from hosts.wrapper import checks  # noqa: F401  (registers the system checks)
