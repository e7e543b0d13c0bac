"""The notifications plugin's configuration keys: defaults, the environment fallback, and
values that cannot be read."""

from __future__ import annotations

from types import SimpleNamespace

from plugins.notifications.catalog import ATTEMPTS_CEILING, NotificationSettings


def settings_of(extra: dict, environ: dict | None = None) -> NotificationSettings:
    return NotificationSettings.of(SimpleNamespace(extra=extra), environ or {})


def test_defaults():
    assert settings_of({}) == NotificationSettings(
        max_attempts=5,
        default_language="en",
        default_time_zone="UTC",
        email_from=None,
        reminders=True,
    )


def test_keys_come_from_the_settings_then_the_environment():
    extra = {
        "notifications_max_attempts": 8,
        "notifications_default_language": "fr",
        "notifications_email_from": "Clinic <care@clinic.example>",
    }
    environ = {
        "FIRESIDE_NOTIFICATIONS_MAX_ATTEMPTS": "2",
        "FIRESIDE_NOTIFICATIONS_DEFAULT_TIME_ZONE": "Africa/Lagos",
        "FIRESIDE_NOTIFICATIONS_REMINDERS": "false",
    }
    assert settings_of(extra, environ) == NotificationSettings(
        max_attempts=8,
        default_language="fr",
        default_time_zone="Africa/Lagos",
        email_from="Clinic <care@clinic.example>",
        reminders=False,
    )


def test_values_that_cannot_be_read_fall_back_to_the_defaults(caplog):
    bad = {
        "notifications_max_attempts": "many",
        "notifications_default_language": "tlh",
        "notifications_default_time_zone": "Atlantis/Capital",
    }
    assert settings_of(bad) == NotificationSettings()
    assert "notifications_default_time_zone" in caplog.text


def test_attempts_are_kept_between_one_and_the_outbox_ceiling():
    assert settings_of({"notifications_max_attempts": 0}).max_attempts == 1
    assert settings_of({"notifications_max_attempts": 99}).max_attempts == ATTEMPTS_CEILING
