"""Choosing and configuring the SMS and push adapters from settings
(``make_sms_sender`` / ``make_push_sender``): no provider, each provider with its defaults,
secrets from the environment, and a configuration error naming the key for every missing or
malformed value, raised when the adapter is built (at startup), not at the first send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_core.config import load_settings
from plugins.notifications.channels.africastalking import AfricasTalkingSms
from plugins.notifications.channels.base import (
    PushMessage,
    SmsMessage,
    push_sender_from_settings,
    sms_sender_from_settings,
)
from plugins.notifications.channels.fcm import FcmPush
from plugins.notifications.channels.providers import make_push_sender, make_sms_sender
from plugins.notifications.channels.twilio import TwilioSms
from tests.care.standins import (
    AfricasTalkingStandIn,
    FcmStandIn,
    TwilioStandIn,
    make_service_account,
)

TWILIO = {
    "notifications_sms_provider": "twilio",
    "notifications_twilio_account_sid": "AC" + "1" * 32,
    "notifications_twilio_auth_token": "secret-token",
    "notifications_twilio_from": "+15005550006",
}
AFRICASTALKING = {
    "notifications_sms_provider": "africastalking",
    "notifications_africastalking_username": "sandbox",
    "notifications_africastalking_api_key": "atsk_secret",
}


class TestNoProvider:
    def test_no_provider_means_no_sender(self) -> None:
        assert make_sms_sender({}) is None
        assert make_push_sender({}) is None
        assert make_sms_sender({"notifications_sms_provider": ""}) is None

    def test_unset_provider_ignores_the_other_keys(self) -> None:
        assert make_sms_sender({"notifications_twilio_base_url": "nonsense"}) is None

    def test_the_base_module_entry_point_uses_the_factory(self) -> None:
        assert isinstance(sms_sender_from_settings(TWILIO), TwilioSms)

    def test_an_unknown_sms_provider_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="notifications_sms_provider"):
            make_sms_sender({"notifications_sms_provider": "nexmo"})

    def test_an_unknown_push_provider_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="notifications_push_provider"):
            make_push_sender({"notifications_push_provider": "apns"})


class TestTwilioConfig:
    def test_defaults(self) -> None:
        sender = make_sms_sender(TWILIO)

        assert isinstance(sender, TwilioSms)
        assert sender.name == "twilio"
        assert sender.url == (
            f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO['notifications_twilio_account_sid']}"
            "/Messages.json"
        )
        assert sender.timeout_s == 10.0

    def test_base_url_and_timeout(self) -> None:
        sender = make_sms_sender(
            {
                **TWILIO,
                "notifications_twilio_base_url": "http://127.0.0.1:9/",
                "notifications_http_timeout_s": "2.5",
            },
        )
        assert isinstance(sender, TwilioSms)
        assert sender.url.startswith("http://127.0.0.1:9/2010-04-01/Accounts/")
        assert sender.timeout_s == 2.5

    @pytest.mark.parametrize(
        "key",
        [
            "notifications_twilio_account_sid",
            "notifications_twilio_auth_token",
            "notifications_twilio_from",
        ],
    )
    def test_a_missing_key_is_named(self, key: str) -> None:
        config = {k: v for k, v in TWILIO.items() if k != key}
        with pytest.raises(ValueError, match=key):
            make_sms_sender(config)
        with pytest.raises(ValueError, match=key):
            make_sms_sender({**config, key: "  "})

    def test_secrets_come_from_the_environment(self, tmp_path: Path) -> None:
        """Through the core's settings: ``load_settings`` puts ``FIRESIDE_<KEY>`` variables
        it does not know into ``Settings.extra``, which is all the plugin reads."""
        config = {k: v for k, v in TWILIO.items() if k != "notifications_twilio_auth_token"}
        settings = load_settings(
            config,
            environ={"FIRESIDE_NOTIFICATIONS_TWILIO_AUTH_TOKEN": "from-the-environment"},
            config_file=tmp_path / "none.toml",
        )
        sender = make_sms_sender(settings.extra)
        assert isinstance(sender, TwilioSms)
        assert "from-the-environment" not in repr(sender)

    def test_the_provider_itself_can_come_from_the_environment(self, tmp_path: Path) -> None:
        env = {"FIRESIDE_" + key.upper(): value for key, value in TWILIO.items()}
        settings = load_settings(environ=env, config_file=tmp_path / "none.toml")
        assert isinstance(make_sms_sender(settings.extra), TwilioSms)

    @pytest.mark.parametrize("timeout", ["0", "-1", "ten", "301"])
    def test_a_bad_timeout_is_named(self, timeout: str) -> None:
        with pytest.raises(ValueError, match="notifications_http_timeout_s"):
            make_sms_sender({**TWILIO, "notifications_http_timeout_s": timeout})

    @pytest.mark.parametrize(
        "url",
        ["api.twilio.com", "ftp://api.twilio.com", "https://", "http://api.twilio.com"],
    )
    def test_a_bad_base_url_is_named(self, url: str) -> None:
        with pytest.raises(ValueError, match="notifications_twilio_base_url"):
            make_sms_sender({**TWILIO, "notifications_twilio_base_url": url})

    def test_a_configured_sender_reaches_twilio(self) -> None:
        with TwilioStandIn(account_sid=TWILIO["notifications_twilio_account_sid"]) as standin:
            sender = make_sms_sender(
                {
                    **TWILIO,
                    "notifications_twilio_auth_token": standin.auth_token,
                    "notifications_twilio_base_url": standin.base_url,
                },
            )
            assert sender is not None
            sid = sender.send(SmsMessage("+2348012345678", "hello"))
        assert standin.messages[0]["sid"] == sid


class TestAfricasTalkingConfig:
    def test_defaults(self) -> None:
        sender = make_sms_sender(AFRICASTALKING)

        assert isinstance(sender, AfricasTalkingSms)
        assert sender.name == "africastalking"
        assert sender.url == "https://api.africastalking.com/version1/messaging"
        assert sender.sender is None
        assert sender.timeout_s == 10.0

    def test_sandbox_and_sender(self) -> None:
        sender = make_sms_sender(
            {
                **AFRICASTALKING,
                "notifications_africastalking_base_url": "https://api.sandbox.africastalking.com",
                "notifications_africastalking_from": "FIRESIDE",
            },
        )
        assert isinstance(sender, AfricasTalkingSms)
        assert sender.url == "https://api.sandbox.africastalking.com/version1/messaging"
        assert sender.sender == "FIRESIDE"

    @pytest.mark.parametrize(
        "key", ["notifications_africastalking_username", "notifications_africastalking_api_key"]
    )
    def test_a_missing_key_is_named(self, key: str) -> None:
        config = {k: v for k, v in AFRICASTALKING.items() if k != key}
        with pytest.raises(ValueError, match=key):
            make_sms_sender(config)

    def test_a_configured_sender_reaches_africas_talking(self, tmp_path: Path) -> None:
        with AfricasTalkingStandIn(username="sandbox") as standin:
            settings = load_settings(
                {
                    "notifications_sms_provider": "africastalking",
                    "notifications_africastalking_username": "sandbox",
                    "notifications_africastalking_base_url": standin.base_url,
                },
                environ={"FIRESIDE_NOTIFICATIONS_AFRICASTALKING_API_KEY": standin.api_key},
                config_file=tmp_path / "none.toml",
            )
            sender = make_sms_sender(settings.extra)
            assert sender is not None
            message_id = sender.send(SmsMessage("+254711000000", "hello"))
        assert standin.messages[0]["messageId"] == message_id


class TestFcmConfig:
    @pytest.fixture
    def fcm(self) -> Iterator[FcmStandIn]:
        with FcmStandIn() as standin:
            yield standin

    def config(self, path: Path | str, **more: Any) -> dict[str, Any]:
        return {
            "notifications_push_provider": "fcm",
            "notifications_fcm_service_account_file": str(path),
            **more,
        }

    def test_defaults(self, fcm: FcmStandIn, tmp_path: Path) -> None:
        sender = make_push_sender(self.config(make_service_account(tmp_path, fcm)))

        assert isinstance(sender, FcmPush)
        assert sender.name == "fcm"
        assert sender.url == "https://fcm.googleapis.com/v1/projects/fireside-test/messages:send"
        assert sender.timeout_s == 10.0

    def test_the_file_key_is_required(self) -> None:
        key = "notifications_fcm_service_account_file"
        with pytest.raises(ValueError, match=key):
            make_push_sender({"notifications_push_provider": "fcm"})

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(
            ValueError, match=r"notifications_fcm_service_account_file: cannot read"
        ):
            make_push_sender(self.config(tmp_path / "absent.json"))

    def test_a_file_that_is_not_json_is_named(self, tmp_path: Path) -> None:
        path = tmp_path / "key.json"
        path.write_text("not json")
        with pytest.raises(ValueError, match="notifications_fcm_service_account_file"):
            make_push_sender(self.config(path))

    @pytest.mark.parametrize("field", ["client_email", "private_key", "token_uri", "project_id"])
    def test_a_missing_field_is_named(self, fcm: FcmStandIn, tmp_path: Path, field: str) -> None:
        path = make_service_account(tmp_path, fcm)
        content = json.loads(path.read_text())
        del content[field]
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=f"lacks {field}"):
            make_push_sender(self.config(path))

    def test_a_plain_http_token_uri_is_refused(self, fcm: FcmStandIn, tmp_path: Path) -> None:
        path = make_service_account(tmp_path, fcm)
        content = json.loads(path.read_text())
        content["token_uri"] = "http://oauth2.googleapis.com/token"
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match="token_uri must use https"):
            make_push_sender(self.config(path))

    def test_a_private_key_that_is_not_rsa_is_refused(
        self, fcm: FcmStandIn, tmp_path: Path
    ) -> None:
        path = make_service_account(tmp_path, fcm)
        content = json.loads(path.read_text())
        content["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match="not an RSA key"):
            make_push_sender(self.config(path))

    def test_a_configured_sender_reaches_fcm(self, fcm: FcmStandIn, tmp_path: Path) -> None:
        sender = make_push_sender(
            self.config(
                make_service_account(tmp_path, fcm),
                notifications_fcm_base_url=fcm.base_url,
                notifications_http_timeout_s=5,
            ),
        )
        assert sender is not None
        name = sender.send(PushMessage(token="device-token-1", title="t", body="b"))
        assert name.startswith("projects/fireside-test/messages/")
        assert fcm.messages == [
            {"token": "device-token-1", "notification": {"title": "t", "body": "b"}}
        ]

    def test_the_same_settings_keep_one_sender_and_its_access_token(
        self, fcm: FcmStandIn, tmp_path: Path
    ) -> None:
        path = make_service_account(tmp_path, fcm)
        config = self.config(path, notifications_fcm_base_url=fcm.base_url)
        first, second = make_push_sender(config), make_push_sender(config)
        assert first is not None and first is second
        for sender in (first, second):
            sender.send(PushMessage(token="device-token-1", title="t", body="b"))
        assert len(fcm.requests_to("token")) == 1

        # A rotated key (the file rewritten) gets a new sender.
        rotated = make_service_account(tmp_path, fcm, key_slot=1)
        path.write_text(rotated.read_text())
        third = make_push_sender(config)
        assert third is not None and third is not first
        third.send(PushMessage(token="device-token-1", title="t", body="b"))
        assert len(fcm.requests_to("token")) == 2

    def test_push_sender_from_settings_uses_the_factory(
        self, fcm: FcmStandIn, tmp_path: Path
    ) -> None:
        sender = push_sender_from_settings(self.config(make_service_account(tmp_path, fcm)))
        assert isinstance(sender, FcmPush)
