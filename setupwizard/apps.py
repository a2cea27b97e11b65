from django.apps import AppConfig


class SetupwizardConfig(AppConfig):
    name = "setupwizard"
