"""The SMS and push provider adapters against local stand-ins of Twilio, Africa's Talking and
Firebase Cloud Messaging, over real HTTP on loopback ports.

Each adapter: a message goes out with exactly the provider's fields and comes back as the
provider's message id; what cannot succeed later (bad credentials, a bad number, a dead device
token) is a final :class:`DeliveryError`; what may (429, 5xx, a refused connection, a timeout)
is a retryable one. FCM also: the access token is cached across sends and threads, renewed
before it expires, and renewed once within a send that FCM refuses with 401.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc import jwt

from plugins.notifications.channels.africastalking import AfricasTalkingSms
from plugins.notifications.channels.base import DeliveryError, PushMessage, SmsMessage
from plugins.notifications.channels.fcm import (
    FCM_SCOPE,
    FcmPush,
    GoogleAccessTokens,
    TokenUnregistered,
    load_service_account,
)
from plugins.notifications.channels.twilio import TwilioSms
from tests.care.standins import (
    AfricasTalkingStandIn,
    FcmStandIn,
    TwilioStandIn,
    closed_port_url,
    make_service_account,
)

TO = "+2348012345678"
TWILIO_FROM = "+15005550006"
SERVICE_SID = "MG" + "0123456789abcdef" * 2
TEXT = "Reminder: your consultation with Dr. Okafor is tomorrow at 09:00."
SHORT_TIMEOUT_S = 0.3
"""For the stalling stand-ins: the client must give up after this long."""
DEVICE = "fcm-device-token:APA91bH" + "x" * 40


def expect_failure(send: object, *, retryable: bool) -> DeliveryError:
    """Run ``send()``, which must raise a DeliveryError with the given ``retryable``."""
    with pytest.raises(DeliveryError) as caught:
        send()  # type: ignore[operator]
    assert caught.value.retryable is retryable, str(caught.value)
    return caught.value


# --- Twilio -------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(senders={TWILIO_FROM}) as standin:
        yield standin


def twilio_sms(standin: TwilioStandIn, **overrides: object) -> TwilioSms:
    options: dict[str, object] = {
        "account_sid": standin.account_sid,
        "auth_token": standin.auth_token,
        "sender": TWILIO_FROM,
        "base_url": standin.base_url,
        "timeout_s": 5.0,
    }
    options.update(overrides)
    return TwilioSms(**options)  # type: ignore[arg-type]


class TestTwilio:
    def test_a_message_is_created_and_its_sid_returned(self, twilio: TwilioStandIn) -> None:
        sid = twilio_sms(twilio).send(SmsMessage(TO, TEXT))

        assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
        assert [m["sid"] for m in twilio.messages] == [sid]
        (request,) = twilio.requests_to("messages")
        assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
        assert request.form == {"To": TO, "From": TWILIO_FROM, "Body": TEXT}
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        credentials = f"{twilio.account_sid}:{twilio.auth_token}".encode()
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()
        assert twilio.messages[0]["status"] == "queued"

    def test_a_messaging_service_sid_is_sent_as_such(self, twilio: TwilioStandIn) -> None:
        twilio_sms(twilio, sender=SERVICE_SID).send(SmsMessage(TO, TEXT))

        (request,) = twilio.requests_to("messages")
        assert request.form == {"To": TO, "MessagingServiceSid": SERVICE_SID, "Body": TEXT}
        assert twilio.messages[0]["status"] == "accepted"

    def test_unicode_text_arrives_intact(self, twilio: TwilioStandIn) -> None:
        body = "Ẹ káàárọ̀ — rendez-vous à 9h ✓"
        twilio_sms(twilio).send(SmsMessage(TO, body))
        assert twilio.messages[0]["body"] == body

    def test_a_wrong_auth_token_is_final(self, twilio: TwilioStandIn) -> None:
        error = expect_failure(
            lambda: twilio_sms(twilio, auth_token="not-the-token").send(SmsMessage(TO, TEXT)),
            retryable=False,
        )
        assert "401" in str(error) and "20003" in str(error)
        assert twilio.messages == []

    def test_an_unknown_account_is_final(self, twilio: TwilioStandIn) -> None:
        other = "AC" + "f" * 32
        expect_failure(
            lambda: twilio_sms(twilio, account_sid=other).send(SmsMessage(TO, TEXT)),
            retryable=False,
        )

    @pytest.mark.parametrize(
        ("to", "code"), [("08012345678", "21211"), ("+234 801 234 5678", "21211"), ("", "21604")]
    )
    def test_an_invalid_number_is_final(self, twilio: TwilioStandIn, to: str, code: str) -> None:
        error = expect_failure(
            lambda: twilio_sms(twilio).send(SmsMessage(to, TEXT)), retryable=False
        )
        assert "HTTP 400" in str(error) and code in str(error)
        assert twilio.messages == []

    def test_a_sender_not_on_the_account_is_final(self, twilio: TwilioStandIn) -> None:
        error = expect_failure(
            lambda: twilio_sms(twilio, sender="+15550001111").send(SmsMessage(TO, TEXT)),
            retryable=False,
        )
        assert "21606" in str(error)

    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    def test_throttling_and_server_errors_are_retryable(
        self, twilio: TwilioStandIn, status: int
    ) -> None:
        sender = twilio_sms(twilio)
        twilio.fail_next(1, status)

        error = expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)
        assert f"HTTP {status}" in str(error)
        # The next try goes through.
        assert sender.send(SmsMessage(TO, TEXT)) == twilio.messages[0]["sid"]

    def test_a_success_status_without_a_sid_is_retryable(self, twilio: TwilioStandIn) -> None:
        twilio.fail_next(1, 200, body=b"<html>captive portal</html>")
        expect_failure(lambda: twilio_sms(twilio).send(SmsMessage(TO, TEXT)), retryable=True)

    def test_a_refused_connection_is_retryable(self) -> None:
        sender = TwilioSms(
            account_sid="AC" + "0" * 32,
            auth_token="t",
            sender=TWILIO_FROM,
            base_url=closed_port_url(),
        )
        error = expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)
        assert "could not reach" in str(error)

    def test_the_timeout_is_honoured(self, twilio: TwilioStandIn) -> None:
        twilio.stall_next(1, seconds=30)
        sender = twilio_sms(twilio, timeout_s=SHORT_TIMEOUT_S)

        error = expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)
        assert "within 0.3 s" in str(error)

    def test_the_auth_token_never_shows_in_repr(self, twilio: TwilioStandIn) -> None:
        assert twilio.auth_token not in repr(twilio_sms(twilio))


# --- Africa's Talking ---------------------------------------------------------------------


@pytest.fixture
def africastalking() -> Iterator[AfricasTalkingStandIn]:
    with AfricasTalkingStandIn(username="fireside") as standin:
        yield standin


def at_sms(standin: AfricasTalkingStandIn, **overrides: object) -> AfricasTalkingSms:
    options: dict[str, object] = {
        "username": standin.username,
        "api_key": standin.api_key,
        "sender": "FIRESIDE",
        "base_url": standin.base_url,
        "timeout_s": 5.0,
    }
    options.update(overrides)
    return AfricasTalkingSms(**options)  # type: ignore[arg-type]


class TestAfricasTalking:
    def test_a_message_is_sent_and_its_id_returned(
        self, africastalking: AfricasTalkingStandIn
    ) -> None:
        message_id = at_sms(africastalking).send(SmsMessage(TO, TEXT))

        assert re.fullmatch(r"ATXid_[0-9a-f]{32}", message_id)
        assert africastalking.messages == [
            {"to": TO, "message": TEXT, "from": "FIRESIDE", "messageId": message_id}
        ]
        (request,) = africastalking.requests_to("messaging")
        assert request.path == "/version1/messaging"
        assert request.form == {
            "username": "fireside",
            "to": TO,
            "message": TEXT,
            "from": "FIRESIDE",
        }
        assert request.headers["Apikey"] == africastalking.api_key
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"

    def test_without_a_sender_no_from_field_is_sent(
        self, africastalking: AfricasTalkingStandIn
    ) -> None:
        at_sms(africastalking, sender=None).send(SmsMessage(TO, TEXT))
        (request,) = africastalking.requests_to("messaging")
        assert request.form == {"username": "fireside", "to": TO, "message": TEXT}

    @pytest.mark.parametrize("wrong", ["api_key", "username"])
    def test_wrong_credentials_are_final(
        self, africastalking: AfricasTalkingStandIn, wrong: str
    ) -> None:
        sender = at_sms(africastalking, **{wrong: "wrong"})
        error = expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=False)
        assert "HTTP 401" in str(error) and "supplied authentication is invalid" in str(error)
        assert africastalking.messages == []

    @pytest.mark.parametrize("http_status", [None, 201], ids=["status-mirrored", "status-201"])
    def test_an_invalid_number_is_final(
        self, africastalking: AfricasTalkingStandIn, http_status: int | None
    ) -> None:
        africastalking.rejection_http_status = http_status
        error = expect_failure(
            lambda: at_sms(africastalking).send(SmsMessage("0801234", TEXT)), retryable=False
        )
        assert "403 InvalidPhoneNumber" in str(error)
        assert africastalking.messages == []

    @pytest.mark.parametrize(
        ("code", "retryable"),
        [
            (401, False),  # RiskHold
            (402, False),  # InvalidSenderId
            (404, False),  # UnsupportedNumberType
            (405, True),  # InsufficientBalance
            (406, False),  # UserInBlacklist
            (407, False),  # CouldNotRoute
            (409, True),  # DoNotDisturbRejection
            (500, True),  # InternalServerError
            (501, True),  # GatewayError
            (502, False),  # RejectedByGateway
        ],
    )
    def test_each_recipient_status_maps_to_final_or_retryable(
        self, africastalking: AfricasTalkingStandIn, code: int, retryable: bool
    ) -> None:
        africastalking.recipient_statuses[TO] = code
        error = expect_failure(
            lambda: at_sms(africastalking).send(SmsMessage(TO, TEXT)), retryable=retryable
        )
        assert f"recipient status {code}" in str(error)

    @pytest.mark.parametrize("code", [100, 102])
    def test_processed_and_queued_are_success(
        self, africastalking: AfricasTalkingStandIn, code: int
    ) -> None:
        africastalking.recipient_statuses[TO] = code
        message_id = at_sms(africastalking).send(SmsMessage(TO, TEXT))
        assert africastalking.messages[0]["messageId"] == message_id

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_throttling_and_server_errors_are_retryable(
        self, africastalking: AfricasTalkingStandIn, status: int
    ) -> None:
        sender = at_sms(africastalking)
        africastalking.fail_next(1, status)
        expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)
        assert sender.send(SmsMessage(TO, TEXT)) == africastalking.messages[0]["messageId"]

    def test_a_list_of_numbers_is_refused_before_sending(
        self, africastalking: AfricasTalkingStandIn
    ) -> None:
        expect_failure(
            lambda: at_sms(africastalking).send(SmsMessage(f"{TO},+254711000000", TEXT)),
            retryable=False,
        )
        assert africastalking.received == []

    def test_a_refused_connection_is_retryable(self) -> None:
        sender = AfricasTalkingSms(username="u", api_key="k", base_url=closed_port_url())
        expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)

    def test_the_timeout_is_honoured(self, africastalking: AfricasTalkingStandIn) -> None:
        africastalking.stall_next(1, seconds=30)
        sender = at_sms(africastalking, timeout_s=SHORT_TIMEOUT_S)
        error = expect_failure(lambda: sender.send(SmsMessage(TO, TEXT)), retryable=True)
        assert "within 0.3 s" in str(error)

    def test_the_api_key_never_shows_in_repr(self, africastalking: AfricasTalkingStandIn) -> None:
        assert africastalking.api_key not in repr(at_sms(africastalking))


# --- Firebase Cloud Messaging -------------------------------------------------------------


@pytest.fixture
def fcm() -> Iterator[FcmStandIn]:
    with FcmStandIn(project_id="fireside-test") as standin:
        yield standin


@pytest.fixture
def key_file(fcm: FcmStandIn, tmp_path: Path) -> Path:
    return make_service_account(tmp_path, fcm)


def fcm_push(fcm: FcmStandIn, key_file: Path, **options: object) -> FcmPush:
    account = load_service_account(key_file)
    options.setdefault("timeout_s", 5.0)
    return FcmPush(account, base_url=fcm.base_url, **options)  # type: ignore[arg-type]


def push(token: str = DEVICE, data: dict[str, str] | None = None) -> PushMessage:
    return PushMessage(
        token=token,
        title="Appointment tomorrow",
        body="Dr. Okafor, 09:00",
        data={"appointment": "a1", "kind": "reminder"} if data is None else data,
    )


class TestFcm:
    def test_a_message_is_sent_and_its_name_returned(self, fcm: FcmStandIn, key_file: Path) -> None:
        name = fcm_push(fcm, key_file).send(push())

        assert re.fullmatch(r"projects/fireside-test/messages/0:\d+%[0-9a-f]{16}", name)
        assert fcm.messages == [
            {
                "token": DEVICE,
                "notification": {"title": "Appointment tomorrow", "body": "Dr. Okafor, 09:00"},
                "data": {"appointment": "a1", "kind": "reminder"},
            }
        ]
        (send,) = fcm.requests_to("send")
        assert send.path == "/v1/projects/fireside-test/messages:send"
        assert send.headers["Content-Type"].startswith("application/json")
        assert send.json() == {"message": fcm.messages[0]}
        (exchange,) = fcm.requests_to("token")
        assert send.headers["Authorization"] == "Bearer " + next(iter(fcm.issued))
        assert exchange.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert set(exchange.form) == {"grant_type", "assertion"}

    def test_the_assertion_carries_the_claims_google_asks_for(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        fcm_push(fcm, key_file).send(push())

        (exchange,) = fcm.requests_to("token")
        account = json.loads(key_file.read_text())
        public_key, key_id = fcm.accounts[account["client_email"]]
        token = jwt.decode(exchange.form["assertion"], public_key, algorithms=["RS256"])
        assert token.header == {"alg": "RS256", "typ": "JWT", "kid": key_id}
        claims = token.claims
        assert claims["iss"] == account["client_email"]
        assert claims["scope"] == FCM_SCOPE
        assert claims["aud"] == account["token_uri"] == fcm.token_uri
        assert 0 < claims["exp"] - claims["iat"] <= 3600

    def test_empty_data_is_left_out(self, fcm: FcmStandIn, key_file: Path) -> None:
        fcm_push(fcm, key_file).send(push(data={}))
        assert "data" not in fcm.messages[0]

    def test_the_access_token_is_reused_across_sends(self, fcm: FcmStandIn, key_file: Path) -> None:
        sender = fcm_push(fcm, key_file)
        for _ in range(3):
            sender.send(push())

        assert len(fcm.requests_to("token")) == 1
        bearers = {r.headers["Authorization"] for r in fcm.requests_to("send")}
        assert len(bearers) == 1 and len(fcm.messages) == 3

    def test_the_access_token_is_renewed_shortly_before_it_expires(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        now = [1000.0]
        account = load_service_account(key_file)
        tokens = GoogleAccessTokens(account, timeout_s=5.0, monotonic=lambda: now[0])
        sender = FcmPush(account, base_url=fcm.base_url, tokens=tokens)

        sender.send(push())
        now[0] += fcm.token_lifetime_s - 301  # more than 5 minutes left: kept
        sender.send(push())
        assert len(fcm.requests_to("token")) == 1
        now[0] += 2  # less than 5 minutes left: renewed
        sender.send(push())
        assert len(fcm.requests_to("token")) == 2
        bearers = [r.headers["Authorization"] for r in fcm.requests_to("send")]
        assert bearers[0] == bearers[1] != bearers[2]

    def test_threads_sending_at_once_share_one_token_request(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        sender = fcm_push(fcm, key_file)
        start = threading.Barrier(8)
        names: list[str] = []

        def send() -> None:
            start.wait()
            names.append(sender.send(push()))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(names) == len(set(names)) == 8
        assert len(fcm.requests_to("token")) == 1

    def test_a_refused_access_token_is_renewed_once_within_the_send(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        sender = fcm_push(fcm, key_file)
        sender.send(push())
        fcm.revoke_tokens()

        name = sender.send(push())

        assert name.startswith("projects/fireside-test/messages/")
        assert len(fcm.requests_to("token")) == 2
        first, refused, resent = fcm.requests_to("send")
        assert first.headers["Authorization"] == refused.headers["Authorization"]
        assert refused.headers["Authorization"] != resent.headers["Authorization"]
        assert len(fcm.messages) == 2

    def test_a_second_401_in_a_row_is_retryable(self, fcm: FcmStandIn, key_file: Path) -> None:
        sender = fcm_push(fcm, key_file)
        fcm.fail_next(2, 401)

        error = expect_failure(lambda: sender.send(push()), retryable=True)

        assert "fresh access token was refused" in str(error)
        assert len(fcm.requests_to("send")) == 2  # one resend, no more
        assert len(fcm.requests_to("token")) == 2
        assert fcm.messages == []

    def test_a_third_party_auth_error_is_final_and_keeps_the_token(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        fcm.fail_next(
            1,
            401,
            body={
                "error": {
                    "code": 401,
                    "message": "Auth error from APNS or Web Push Service",
                    "status": "UNAUTHENTICATED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "THIRD_PARTY_AUTH_ERROR",
                        }
                    ],
                }
            },
        )
        error = expect_failure(lambda: fcm_push(fcm, key_file).send(push()), retryable=False)
        assert "THIRD_PARTY_AUTH_ERROR" in str(error)
        assert len(fcm.requests_to("send")) == 1 and len(fcm.requests_to("token")) == 1

    def test_an_unregistered_token_is_final(self, fcm: FcmStandIn, key_file: Path) -> None:
        fcm.unregistered.add(DEVICE)

        with pytest.raises(TokenUnregistered) as caught:
            fcm_push(fcm, key_file).send(push())

        assert caught.value.retryable is False
        assert "404 UNREGISTERED" in str(caught.value)
        assert fcm.messages == []

    def test_a_malformed_token_is_final(self, fcm: FcmStandIn, key_file: Path) -> None:
        error = expect_failure(
            lambda: fcm_push(fcm, key_file).send(push(token="not a token")), retryable=False
        )
        assert "400 INVALID_ARGUMENT" in str(error)

    def test_a_non_string_data_value_is_final(self, fcm: FcmStandIn, key_file: Path) -> None:
        message = push(data={"appointment": "a1", "attempt": 12})  # type: ignore[dict-item]

        error = expect_failure(lambda: fcm_push(fcm, key_file).send(message), retryable=False)

        assert "HTTP 400 INVALID_ARGUMENT" in str(error)
        assert "message.data[1].value' (TYPE_STRING), 12" in str(error)
        assert fcm.messages == []

    def test_a_reserved_data_key_is_final(self, fcm: FcmStandIn, key_file: Path) -> None:
        expect_failure(
            lambda: fcm_push(fcm, key_file).send(push(data={"from": "x"})), retryable=False
        )

    @pytest.mark.parametrize(
        ("status", "reason"),
        [(429, "QUOTA_EXCEEDED"), (500, "INTERNAL"), (503, "UNAVAILABLE")],
    )
    def test_quota_and_server_errors_are_retryable(
        self, fcm: FcmStandIn, key_file: Path, status: int, reason: str
    ) -> None:
        sender = fcm_push(fcm, key_file)
        fcm.fail_next(1, status)

        error = expect_failure(lambda: sender.send(push()), retryable=True)

        assert f"HTTP {status} {reason}" in str(error)
        assert sender.send(push()).startswith("projects/fireside-test/messages/")

    def test_another_project_is_final(self, fcm: FcmStandIn, key_file: Path) -> None:
        account = dataclasses.replace(load_service_account(key_file), project_id="someone-else")
        sender = FcmPush(account, base_url=fcm.base_url, timeout_s=5.0)
        error = expect_failure(lambda: sender.send(push()), retryable=False)
        assert "403" in str(error)

    def test_a_token_without_the_messaging_scope_is_final(
        self, fcm: FcmStandIn, key_file: Path
    ) -> None:
        account = load_service_account(key_file)
        tokens = GoogleAccessTokens(
            account, scope="https://www.googleapis.com/auth/cloud-platform.read-only"
        )
        sender = FcmPush(account, base_url=fcm.base_url, tokens=tokens)
        error = expect_failure(lambda: sender.send(push()), retryable=False)
        assert "insufficient authentication scopes" in str(error)

    def test_an_account_the_token_endpoint_does_not_know_is_final(
        self, fcm: FcmStandIn, tmp_path: Path
    ) -> None:
        stranger = make_service_account(tmp_path, fcm, trusted=False)
        error = expect_failure(lambda: fcm_push(fcm, stranger).send(push()), retryable=False)
        assert "invalid_grant" in str(error)
        assert fcm.requests_to("send") == []

    def test_a_key_that_is_not_the_accounts_is_final(
        self, fcm: FcmStandIn, key_file: Path, tmp_path: Path
    ) -> None:
        email = json.loads(key_file.read_text())["client_email"]
        forged = make_service_account(tmp_path, fcm, client_email=email, key_slot=1, trusted=False)
        error = expect_failure(lambda: fcm_push(fcm, forged).send(push()), retryable=False)
        assert "Invalid JWT Signature" in str(error)

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_token_endpoint_outages_are_retryable(
        self, fcm: FcmStandIn, key_file: Path, status: int
    ) -> None:
        sender = fcm_push(fcm, key_file)
        fcm.fail_next(1, status, endpoint="token")
        expect_failure(lambda: sender.send(push()), retryable=True)
        assert fcm.requests_to("send") == []
        assert sender.send(push()).startswith("projects/")

    def test_a_refused_connection_is_retryable(self, fcm: FcmStandIn, key_file: Path) -> None:
        account = load_service_account(key_file)
        sender = FcmPush(account, base_url=closed_port_url(), timeout_s=5.0)
        expect_failure(lambda: sender.send(push()), retryable=True)

    def test_an_unreachable_token_endpoint_is_retryable(self, key_file: Path) -> None:
        account = dataclasses.replace(
            load_service_account(key_file), token_uri=closed_port_url() + "/token"
        )
        sender = FcmPush(account, base_url=closed_port_url())
        expect_failure(lambda: sender.send(push()), retryable=True)

    @pytest.mark.parametrize("endpoint", ["send", "token"])
    def test_the_timeout_is_honoured(self, fcm: FcmStandIn, key_file: Path, endpoint: str) -> None:
        fcm.stall_next(1, seconds=30, endpoint=endpoint)
        # Only the stalled call gets the short timeout; the other answers promptly anyway.
        account = load_service_account(key_file)
        tokens = GoogleAccessTokens(
            account, timeout_s=SHORT_TIMEOUT_S if endpoint == "token" else 5.0
        )
        sender = FcmPush(
            account,
            base_url=fcm.base_url,
            timeout_s=SHORT_TIMEOUT_S if endpoint == "send" else 5.0,
            tokens=tokens,
        )
        error = expect_failure(lambda: sender.send(push()), retryable=True)
        assert "within 0.3 s" in str(error)

    def test_the_private_key_never_shows_in_repr(self, key_file: Path) -> None:
        account = load_service_account(key_file)
        assert "PRIVATE KEY" not in repr(account)
        assert "PRIVATE KEY" not in repr(FcmPush(account))
