"""The notifications plugin's configuration keys: defaults, keys from the configuration and
from ``FIRESIDE_*`` environment variables (both through the core's ``load_settings``, into
``Settings.extra``), and values that cannot be read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from platform_core.config import load_settings
from plugins.notifications.catalog import ATTEMPTS_CEILING, NotificationSettings


def settings_of(extra: dict) -> NotificationSettings:
    return NotificationSettings.of(SimpleNamespace(extra=extra))


def test_defaults():
    assert settings_of({}) == NotificationSettings(
        max_attempts=5,
        default_language="en",
        default_time_zone="UTC",
        email_from=None,
        reminders=True,
    )


def test_keys_come_from_the_configuration_and_the_environment(tmp_path: Path):
    """The plugin reads ``Settings.extra`` only; the core's ``load_settings`` fills it from
    the configuration file, ``FIRESIDE_*`` variables it does not know (as text) and the
    mapping given to it, the mapping winning."""
    config = tmp_path / "fireside.toml"
    config.write_text('notifications_default_language = "fr"\nnotifications_max_attempts = 9\n')
    environ = {
        "FIRESIDE_NOTIFICATIONS_MAX_ATTEMPTS": "2",
        "FIRESIDE_NOTIFICATIONS_DEFAULT_TIME_ZONE": "Africa/Lagos",
        "FIRESIDE_NOTIFICATIONS_REMINDERS": "false",
    }
    overrides = {"notifications_email_from": "Clinic <care@clinic.example>"}
    settings = load_settings(overrides, environ=environ, config_file=config)
    assert NotificationSettings.of(settings) == NotificationSettings(
        max_attempts=2,  # the environment over the file
        default_language="fr",
        default_time_zone="Africa/Lagos",
        email_from="Clinic <care@clinic.example>",
        reminders=False,
    )
    settings = load_settings({"notifications_max_attempts": 8}, environ=environ, config_file=config)
    assert NotificationSettings.of(settings).max_attempts == 8  # the mapping over both


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
