"""Registering clients: ``register_client`` and ``manage.py create-client``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from joserfc.jwk import ECKey, RSAKey

from platform_core.cli import client_command
from platform_core.oauth.clients import (
    ClientRegistrationError,
    get_client,
    register_client,
    set_client_active,
)
from tests.oauth.conftest import Backend, assertion, backend_form, public_jwks


class TestRegisterClient:
    def test_a_public_client(self, db: sa.Engine) -> None:
        registered = register_client(
            db,
            name="App",
            kind="public",
            scope="openid patient/*.rs",
            redirect_uris=["https://a.example.org/cb", "com.example.app:/cb"],
        )
        assert registered.client_secret is None
        client = get_client(db, registered.client.client_id)
        assert client is not None
        assert client.grant_types == {"authorization_code", "refresh_token"}
        assert client.redirect_uris == ("https://a.example.org/cb", "com.example.app:/cb")
        assert client.check_endpoint_auth_method("none", "token")
        assert not client.check_endpoint_auth_method("client_secret_basic", "token")

    def test_a_symmetric_client_gets_a_long_random_secret(self, db: sa.Engine) -> None:
        registered = register_client(
            db,
            name="Portal",
            kind="confidential-symmetric",
            scope="patient/*.rs",
            redirect_uris=["https://p.example.org/cb"],
        )
        assert registered.client_secret is not None and len(registered.client_secret) >= 40
        assert registered.client.check_client_secret(registered.client_secret)
        assert not registered.client.check_client_secret(registered.client_secret + "x")

    def test_an_asymmetric_client_defaults_to_client_credentials(
        self, db: sa.Engine, rsa_key: RSAKey, ec_key: ECKey
    ) -> None:
        client = register_client(
            db,
            name="Backend",
            kind="confidential-asymmetric",
            scope="system/*.rs",
            jwks=public_jwks(rsa_key, ec_key),
        ).client
        assert client.grant_types == {"client_credentials"}
        assert client.check_endpoint_auth_method("private_key_jwt", "token")

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"kind": "weird"}, "kind"),
            ({"scope": ""}, "scope"),
            ({"scope": "patient/Observation.bogus"}, "SMART scope"),
            ({"redirect_uris": []}, "redirect URI"),
            ({"redirect_uris": ["http://app.example.org/cb"]}, "https"),
            ({"redirect_uris": ["https://app.example.org/cb#x"]}, "fragment"),
            ({"redirect_uris": ["javascript:alert(1)"]}, "https"),
            ({"grant_types": ["client_credentials"], "redirect_uris": []}, "public"),
            ({"grant_types": ["implicit"]}, "unknown grant"),
            ({"client_secret": "s" * 40}, "secret"),
            ({"jwks_uri": "https://x.example.org/jwks"}, "keys"),
            ({"name": " "}, "name"),
        ],
    )
    def test_inconsistent_descriptions_are_refused_before_writing(
        self, db: sa.Engine, counts: Any, kwargs: dict[str, Any], message: str
    ) -> None:
        description: dict[str, Any] = {
            "name": "App",
            "kind": "public",
            "scope": "patient/*.rs",
            "redirect_uris": ["https://a.example.org/cb"],
            **kwargs,
        }
        before = counts()
        with pytest.raises(ClientRegistrationError, match=message):
            register_client(db, **description)
        assert counts() == before

    @pytest.mark.parametrize(
        "jwks",
        [
            {"keys": []},
            {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
            "private",
            "p256",
            "small-rsa",
        ],
    )
    @pytest.mark.filterwarnings("ignore:Key size should be")
    def test_unusable_key_sets_are_refused(self, db: sa.Engine, rsa_key: RSAKey, jwks: Any) -> None:
        if jwks == "private":
            jwks = {"keys": [rsa_key.as_dict(private=True)]}
        elif jwks == "p256":
            jwks = public_jwks(ECKey.generate_key("P-256"))
        elif jwks == "small-rsa":
            jwks = public_jwks(RSAKey.generate_key(1024, auto_kid=True))
        with pytest.raises(ClientRegistrationError):
            register_client(
                db, name="B", kind="confidential-asymmetric", scope="system/*.rs", jwks=jwks
            )

    def test_a_taken_client_id_is_refused(self, db: sa.Engine) -> None:
        args = {
            "name": "A",
            "kind": "public",
            "scope": "patient/*.rs",
            "redirect_uris": ["https://a.example.org/cb"],
            "client_id": "fixed",
        }
        register_client(db, **args)
        with pytest.raises(ClientRegistrationError, match="taken"):
            register_client(db, **args)

    def test_a_disabled_client_is_not_found(self, db: sa.Engine) -> None:
        client = register_client(
            db,
            name="A",
            kind="public",
            scope="patient/*.rs",
            redirect_uris=["https://a.example.org/cb"],
        ).client
        assert set_client_active(db, client.client_id, False)
        assert get_client(db, client.client_id) is None
        assert not set_client_active(db, "nobody", False)


def run_command(command: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, core: Any) -> int:
    """Run ``manage.py <command> <argv>`` against the test database."""
    monkeypatch.setenv("FIRESIDE_DATABASE_URL", core.settings.database_url)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    client_command.add_parser(sub)
    return client_command.run(parser.parse_args([command, *argv]))


class TestCreateClientCommand:
    def _run(self, argv: list[str], monkeypatch: pytest.MonkeyPatch, core: Any) -> int:
        return run_command("create-client", argv, monkeypatch, core)

    def test_prints_the_client_and_its_secret_once(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        db: sa.Engine,
    ) -> None:
        status = self._run(
            [
                "--name",
                "Portal",
                "--kind",
                "confidential-symmetric",
                "--scope",
                "openid patient/*.rs",
                "--redirect-uri",
                "https://p.example.org/cb",
            ],
            monkeypatch,
            core,
        )
        assert status == 0
        out = json.loads(capsys.readouterr().out)
        client = get_client(db, out["client_id"])
        assert client is not None and client.check_client_secret(out["client_secret"])
        assert out["grant_types"] == ["authorization_code", "refresh_token"]

    def test_registers_a_backend_from_a_jwks_file(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        tmp_path: Path,
        rsa_key: RSAKey,
    ) -> None:
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(public_jwks(rsa_key)))
        argv = ["--name", "Export", "--kind", "confidential-asymmetric"]
        argv += ["--scope", "system/*.rs", "--jwks", str(path), "--client-id", "exporter"]
        assert self._run(argv, monkeypatch, core) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["client_id"] == "exporter" and "client_secret" not in out

    def test_a_refused_description_exits_2(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], core: Any
    ) -> None:
        argv = ["--name", "X", "--kind", "public", "--scope", "patient/*.rs"]
        assert self._run(argv, monkeypatch, core) == 2
        assert "redirect URI" in capsys.readouterr().err


class TestClientsCommand:
    def _run(self, argv: list[str], monkeypatch: pytest.MonkeyPatch, core: Any) -> int:
        return run_command("clients", argv, monkeypatch, core)

    def _register(self, db: sa.Engine, client_id: str) -> None:
        register_client(
            db,
            name=client_id.title(),
            kind="confidential-symmetric",
            scope="openid patient/*.rs",
            redirect_uris=[f"https://{client_id}.example.org/cb"],
            client_id=client_id,
        )

    def test_list_prints_every_client_without_secrets(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        db: sa.Engine,
    ) -> None:
        self._register(db, "beta")
        self._register(db, "alpha")
        set_client_active(db, "beta", False)
        assert self._run(["list"], monkeypatch, core) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(c["client_id"], c["active"]) for c in lines] == [("alpha", True), ("beta", False)]
        assert lines[0]["redirect_uris"] == ["https://alpha.example.org/cb"]
        assert all("secret" not in key for c in lines for key in c)

    def test_disable_and_enable(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        db: sa.Engine,
    ) -> None:
        self._register(db, "portal")
        assert self._run(["disable", "portal"], monkeypatch, core) == 0
        assert json.loads(capsys.readouterr().out) == {"client_id": "portal", "active": False}
        assert get_client(db, "portal") is None
        assert self._run(["enable", "portal"], monkeypatch, core) == 0
        assert get_client(db, "portal") is not None

    def test_an_unknown_client_exits_2_and_changes_nothing(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        counts: Any,
    ) -> None:
        before = counts()
        assert self._run(["disable", "nobody"], monkeypatch, core) == 2
        assert "no client 'nobody'" in capsys.readouterr().err
        assert counts() == before

    def test_a_switched_off_clients_tokens_stop_working(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        core: Any,
        web: FlaskClient,
        backend: Backend,
    ) -> None:
        def system_token() -> Any:
            form = backend_form(assertion(backend.client.client_id, backend.key))
            return web.post("/oauth2/token", data=form)

        token = system_token().get_json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert web.get("/fhir/Patient", headers=bearer).status_code == 200
        assert self._run(["disable", backend.client.client_id], monkeypatch, core) == 0
        time.sleep(1.1)  # every process rereads the switched-off clients each second
        refused = web.get("/fhir/Patient", headers=bearer)
        assert refused.status_code == 401
        assert "switched off" in refused.headers["WWW-Authenticate"]
        assert system_token().status_code == 401  # invalid_client: no new tokens either
        assert self._run(["enable", backend.client.client_id], monkeypatch, core) == 0
        time.sleep(1.1)
        fresh = system_token().get_json()["access_token"]
        assert (
            web.get("/fhir/Patient", headers={"Authorization": f"Bearer {fresh}"}).status_code
            == 200
        )
