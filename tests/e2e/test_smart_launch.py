"""The SMART standalone launch in a real browser: headless Chromium clicks and types its way
from the app's authorization request through the login page, the consent page and the
patient picker to the app's redirect URI, and the "app" (this test) then trades the code for
tokens and reads FHIR data over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect

from platform_core.identity.users import User
from platform_core.oauth.clients import Client
from tests.e2e.conftest import PASSWORD, AuthRequest, CallbackServer, auth_request

pytestmark = pytest.mark.e2e

OAUTH_TABLES = (
    "oauth_authorization_code",
    "oauth_grant",
    "oauth_refresh_token",
    "oauth_access_token",
)
SCOPE_WORDS = [
    "Know who you are (your account id)",
    "Know which FHIR record is yours (your Patient, Practitioner or RelatedPerson)",
    "Know which patient's record you choose",
    "Read and search all health records of the selected patient",
    "Keep access after you sign out, until you revoke it",
]
"""What the consent page says for ``openid fhirUser launch/patient patient/*.rs
offline_access``, in request order."""


# --- steps -----------------------------------------------------------------------------------
def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def open_authorize(page: Page, live: str, req: AuthRequest) -> None:
    """The app sends the browser to the authorization endpoint; no one is signed in, so the
    browser ends on the login page, which remembers the request in ``next``."""
    page.goto(req.url(live))
    assert path_of(page) == "/auth/login", page.url
    [next_path] = parse_qs(urlsplit(page.url).query)["next"]
    assert next_path.startswith("/oauth2/authorize?")
    assert parse_qs(urlsplit(next_path).query)["state"] == [req.state]
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def sign_in(page: Page, user: User, password: str = PASSWORD) -> None:
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_consent(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Allow Growth Chart to use your Fireside account?"
    )
    assert path_of(page) == "/oauth2/authorize", page.url


def land_on_callback(page: Page, callback: CallbackServer) -> dict[str, str]:
    """Wait until the browser shows the app's redirect URI; return what reached it."""
    page.wait_for_url(lambda url: url.startswith(callback.redirect_uri + "?"))
    expect(page.locator("body")).to_have_text("ok")
    params = callback.params()
    assert all(len(v) == 1 for v in params.values()), params
    return {k: v[0] for k, v in params.items()}


def exchange(live: str, client: Client, req: AuthRequest, code: str) -> requests.Response:
    return requests.post(
        f"{live}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": req.params["redirect_uri"],
            "code_verifier": req.verifier,
            "client_id": client.client_id,
        },
        timeout=30,
    )


def read_patient(live: str, access_token: str, patient_id: str) -> requests.Response:
    return requests.get(
        f"{live}/fhir/Patient/{patient_id}",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"},
        timeout=30,
    )


def picker_labels(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#patient-choice label").all_inner_texts()]


# --- 1. the whole standalone launch ---------------------------------------------------------
def test_standalone_launch_signs_in_consents_and_reads_the_patients_record(
    page: Page,
    live_server: str,
    smart_app: Client,
    callback: CallbackServer,
    make_patient: Callable[..., str],
    make_user: Callable[..., User],
    screenshot_dir: Path,
) -> None:
    grace = make_patient("Grace", "Hopper", "1980-12-09")
    alan = make_patient("Alan", "Turing", "1954-06-23")
    user = make_user("patient", {grace: "self"}, fhir_user=f"Patient/{grace}")
    req = auth_request(smart_app)

    open_authorize(page, live_server, req)
    sign_in(page, user)

    expect_consent(page)
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {user.email}")
    expect(page.locator("#scope-list li")).to_have_text(SCOPE_WORDS)
    # A patient may choose only themselves, already selected.
    assert picker_labels(page) == ["Grace Hopper (born 1980-12-09) (you)"]
    expect(page.get_by_label("Grace Hopper (born 1980-12-09) (you)")).to_be_checked()
    expect(page.locator("body")).not_to_contain_text("Turing")
    page.screenshot(path=str(screenshot_dir / "consent.png"), full_page=True)

    page.get_by_role("button", name="Allow").click()
    params = land_on_callback(page, callback)
    assert params["state"] == req.state
    assert "error" not in params
    code = params["code"]

    response = exchange(live_server, smart_app, req, code)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "Bearer"
    assert body["patient"] == grace
    assert body["need_patient_banner"] is True
    assert set(body["scope"].split()) == set(req.params["scope"].split())
    assert body["refresh_token"]

    # The id_token is signed by a key the JWKS publishes, and names the user and their record.
    jwks = requests.get(f"{live_server}/oauth2/jwks", timeout=30).json()
    claims = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == smart_app.client_id
    assert claims["sub"] == user.id
    assert claims["fhirUser"] == f"http://testserver/fhir/Patient/{grace}"

    own = read_patient(live_server, body["access_token"], grace)
    assert own.status_code == 200, own.text
    assert own.json()["id"] == grace
    assert read_patient(live_server, body["access_token"], alan).status_code == 404


# --- 2. a guardian picks one of their children ----------------------------------------------
def test_guardian_picks_a_child_in_the_patient_picker(
    page: Page,
    live_server: str,
    smart_app: Client,
    callback: CallbackServer,
    make_patient: Callable[..., str],
    make_user: Callable[..., User],
) -> None:
    children = {
        "Mia Example (born 2016-03-01)": make_patient("Mia", "Example", "2016-03-01"),
        "Noah Example (born 2019-07-15)": make_patient("Noah", "Example", "2019-07-15"),
    }
    make_patient("Zed", "Stranger", "2017-01-01")
    guardian = make_user("guardian", {pid: "guardian" for pid in children.values()})
    req = auth_request(smart_app)

    open_authorize(page, live_server, req)
    sign_in(page, guardian)
    expect_consent(page)

    # Exactly the two children, neither chosen for the guardian, and no one else.
    labels = picker_labels(page)
    assert sorted(labels) == sorted(children)
    expect(page.locator("body")).not_to_contain_text("Stranger")
    radios = page.locator("#patient-choice input[type=radio]")
    expect(radios).to_have_count(2)
    for radio in radios.all():
        expect(radio).not_to_be_checked()

    # Allowing without a choice is refused on the page itself.
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose one of the patients listed.")
    expect_consent(page)
    assert callback.hits == []

    second = picker_labels(page)[1]
    page.get_by_text(second, exact=True).click()  # clicking the label picks its radio
    expect(page.get_by_label(second)).to_be_checked()
    assert radios.nth(1).get_attribute("value") == children[second]
    page.get_by_role("button", name="Allow").click()

    params = land_on_callback(page, callback)
    assert params["state"] == req.state
    response = exchange(live_server, smart_app, req, params["code"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient"] == children[second]

    [first] = [pid for label, pid in children.items() if label != second]
    assert read_patient(live_server, body["access_token"], children[second]).status_code == 200
    assert read_patient(live_server, body["access_token"], first).status_code == 404


# --- 3. Deny --------------------------------------------------------------------------------
def test_deny_returns_access_denied_and_writes_no_code_or_token(
    page: Page,
    live_server: str,
    smart_app: Client,
    callback: CallbackServer,
    make_patient: Callable[..., str],
    make_user: Callable[..., User],
    counts: Callable[[], dict[str, int]],
) -> None:
    grace = make_patient("Grace", "Hopper", "1980-12-09")
    user = make_user("patient", {grace: "self"}, fhir_user=f"Patient/{grace}")
    req = auth_request(smart_app)

    open_authorize(page, live_server, req)
    sign_in(page, user)
    expect_consent(page)
    before = counts()

    page.get_by_role("button", name="Deny").click()
    params = land_on_callback(page, callback)
    assert params["error"] == "access_denied"
    assert params["state"] == req.state
    assert "code" not in params

    after = counts()
    assert {t: after[t] - before[t] for t in after if after[t] != before[t]} == {}
    assert {t: after[t] for t in OAUTH_TABLES} == dict.fromkeys(OAUTH_TABLES, 0)


# --- 4. the login page's accessibility basics -----------------------------------------------
def check_page_basics(page: Page) -> None:
    """``lang``, one ``h1``, and a label for every visible form control."""
    assert (page.locator("html").get_attribute("lang") or "").strip() == "en"
    expect(page.locator("h1")).to_have_count(1)
    controls = page.locator("input:visible, select:visible, textarea:visible").all()
    assert len(controls) >= 2  # email and password at least: the check below is not vacuous
    for control in controls:
        control_id = control.get_attribute("id")
        aria = (control.get_attribute("aria-label") or "").strip()
        label = page.locator(f'label[for="{control_id}"]') if control_id else None
        labelled = label is not None and label.count() == 1 and label.inner_text().strip()
        assert labelled or aria, control.evaluate("e => e.outerHTML")
    for button in page.locator("button:visible").all():
        assert button.inner_text().strip() or button.get_attribute("aria-label")


def test_login_page_labels_lang_heading_and_alert_on_a_wrong_password(
    page: Page,
    live_server: str,
    smart_app: Client,
    make_patient: Callable[..., str],
    make_user: Callable[..., User],
) -> None:
    grace = make_patient("Grace", "Hopper", "1980-12-09")
    user = make_user("patient", {grace: "self"}, fhir_user=f"Patient/{grace}")
    open_authorize(page, live_server, auth_request(smart_app))
    check_page_basics(page)
    expect(page.get_by_role("alert")).to_have_count(0)

    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/auth/login"
    ) as posted:
        sign_in(page, user, "not the password at all")
    assert posted.value.status == 401

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The email address or password is not correct")
    assert path_of(page) == "/auth/login"
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_label("Email address")).to_have_value(user.email)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    check_page_basics(page)

    # The pending authorization request survives the failure: the right password, submitted
    # with the keyboard, goes on to the consent page.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect_consent(page)
