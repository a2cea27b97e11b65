from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from hosts.models import CanonicalAuth, FleetSetting
        from hosts.selectors import fleet_state_changed
        from hosts.wrapper import checks  # noqa: F401  (registers the system checks)

        # The cached fleet state must not outlive a row saved anywhere (Django admin included);
        # the services' queryset updates call fleet_state_changed themselves.
        def drop_fleet_state(sender, **kwargs) -> None:
            fleet_state_changed()

        for model in (FleetSetting, CanonicalAuth):
            # weak=False: the receiver is a local function, nothing else keeps it alive.
            post_save.connect(
                drop_fleet_state, sender=model, weak=False, dispatch_uid=f"fleet-{model.__name__}"
            )
            post_delete.connect(
                drop_fleet_state,
                sender=model,
                weak=False,
                dispatch_uid=f"fleet-del-{model.__name__}",
            )
