from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self) -> None:
        from usage.live import channel
        from usage.signals import usage_changed

        # Live streams hear about every committed usage change (ingest, reprice, Codex usage).
        usage_changed.connect(channel.on_usage_changed, dispatch_uid="usage.live.on_usage_changed")
