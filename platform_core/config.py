"""Configuration: defaults, then a TOML file, then ``FIRESIDE_*`` environment variables, then
the mapping a caller (usually a test) passes to ``create_app``.

Every key is documented in ``docs/configuration.md``; a test checks the two agree. Secrets come
only from the environment, never from committed files.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "FIRESIDE_"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "default.toml"


@dataclass(frozen=True)
class Settings:
    """All configuration keys, with their defaults."""

    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'fireside.db'}"
    """SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``."""
    base_url: str = "http://localhost:8000"
    """Public base URL of the server; the FHIR base is ``{base_url}/fhir``."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted; larger ones answer 413."""
    default_page_size: int = 20
    """Page size of searches and history when the client gives no ``_count``."""
    max_page_size: int = 1000
    """``_count`` is clamped to this."""
    db_pool_size: int = 5
    """Connections kept per process (PostgreSQL)."""
    db_max_overflow: int = 5
    """Extra connections a process may open under load (PostgreSQL)."""
    db_statement_timeout_ms: int = 30_000
    """Longest a single SQL statement may run (PostgreSQL)."""
    transaction_retries: int = 3
    """How often a transaction Bundle is retried from scratch after a write conflict."""
    log_level: str = "INFO"
    """Python logging level name."""
    auth_required: bool = True
    """Every FHIR and API call needs a bearer token. ``false`` lets anonymous callers do
    everything: for a developer's own machine only, never for real data."""
    secret_key: str = ""
    """Signs browser sessions and CSRF tokens; set it in the environment. Empty: a random
    key is generated once and kept in ``var/secret_key``."""
    data_keys: tuple[str, ...] = ()
    """Keys that encrypt the secrets kept in the database (TOTP secrets, token-signing
    keys): 32-byte base64url keys, comma-separated in the environment; the first seals, all
    open. Set it in the environment. Empty: a random key is generated once and kept in
    ``var/data_key``. ``manage.py secrets new-key`` makes one; ``manage.py secrets reseal``
    moves stored secrets to the first key after a rotation."""
    access_token_ttl_s: int = 3600
    """Lifetime of an access token, in seconds."""
    refresh_token_ttl_s: int = 30 * 24 * 3600
    """Lifetime of an ``offline_access`` refresh token, in seconds (``online_access`` ones
    end with the user's session)."""
    auth_code_ttl_s: int = 60
    """Lifetime of an authorization code, in seconds (it is single-use)."""
    signing_key_rotation_days: int = 30
    """A new token-signing key is made after this many days; the old one keeps verifying
    until the tokens it signed have expired."""
    login_max_failures: int = 5
    """Failed logins in a row that lock an account."""
    lockout_s: int = 900
    """How long a locked account stays locked, in seconds."""
    login_ip_max_failures: int = 20
    """Failed logins from one caller address, in any ``login_ip_window_s``, after which
    that address gets 429 before any password is checked (guessing across accounts)."""
    login_ip_window_s: int = 900
    """The window of ``login_ip_max_failures``, in seconds."""
    mail_ip_max_requests: int = 10
    """Sign-up, confirmation-link and reset-link requests from one caller address in any
    ``mail_window_s``; more answer 429."""
    mail_address_max: int = 5
    """Mails anyone could cause by typing an email address (confirmation and reset links)
    to one address in any ``mail_window_s``; more are not sent, and the page answers as if
    they were. Security notices always go."""
    mail_window_s: int = 3600
    """The window of ``mail_ip_max_requests`` and ``mail_address_max``, in seconds."""
    trusted_proxies: int = 0
    """How many reverse proxies in front of Fireside append to ``X-Forwarded-For``; the
    caller address (throttling, audit) is taken that many hops back. 0: the socket's peer,
    and ``X-Forwarded-For`` is ignored (a client could forge it)."""
    session_ttl_s: int = 12 * 3600
    """A browser session ends this long after login, whatever the activity, in seconds."""
    password_reset_ttl_s: int = 3600
    """Lifetime of a password-reset or email-verification link, in seconds."""
    audit_flush_ms: int = 500
    """How often buffered audit records are written as AuditEvents, in milliseconds."""
    mail_url: str = ""
    """Where mail goes: ``smtp://host:port`` or empty to write each message as a file under
    ``var/mail/`` (the embedded default)."""
    plugins_disabled: tuple[str, ...] = ()
    """Plugins not to load, by name (entry-point name, or ``core.<name>`` for the core's
    own); comma-separated in the environment."""
    plugins_trace: bool = False
    """Log every hook call and its result (logger ``fireside.hooks``)."""
    jobs_broker_url: str = ""
    """Celery broker (``redis://127.0.0.1:6379/0`` or ``amqp://guest@127.0.0.1//``). Empty:
    jobs run in the web process right after their commit (the embedded default)."""
    jobs_lease_s: int = 300
    """A job handed to the broker but not done after this many seconds is handed over
    again by the sweeper (its worker died, or the broker lost it)."""
    jobs_sweep_interval_s: int = 5
    """How often the sweeper re-dispatches due and lost jobs (beat, or in-process when
    jobs run inline)."""
    jobs_queue: str = "fireside"
    """The broker queue jobs are published to and workers consume (one per installation
    sharing a broker)."""
    jobs_retention_days: int = 7
    """Finished (done) jobs are purged from the outbox after this many days."""
    jobs_inline_background: bool = True
    """When jobs run inline: sweep and run scheduled jobs in a background thread of each web
    process (tests turn it off and call ``Jobs.sweep()`` themselves)."""
    jobs_inline_sync: bool = False
    """Inline jobs run in the thread that committed them, before its request answers
    (tests), instead of in the process's inline-jobs thread right after."""
    search_backend: str = "embedded"
    """The global search backend: ``embedded`` (the app's own database) or
    ``elasticsearch``."""
    elasticsearch_url: str = ""
    """Elasticsearch address for the ``elasticsearch`` backend (``http://host:9200``)."""
    search_index_prefix: str = "fireside"
    """Prefix of the Elasticsearch index and alias names."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys not known to the core (plugins read their own)."""

    @property
    def fhir_base_url(self) -> str:
        """The absolute FHIR base URL, used in links, ``Location`` and ``fullUrl``."""
        return self.base_url.rstrip("/") + "/fhir"


def _coerce(value: str, target: type) -> Any:
    if target is int:
        return int(value)
    if target is bool:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if target == tuple[str, ...]:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build :class:`Settings` from the layered sources."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
    if path.exists():
        with path.open("rb") as fh:
            values.update(tomllib.load(fh))
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings) if f.name != "extra"}
    for name in known:
        env_value = env.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = _coerce(env_value, hints[name])
    for variable, env_value in env.items():
        # Plugin keys (``FIRESIDE_SCHEDULING_HORIZON_DAYS``) arrive as text in ``extra``;
        # each plugin converts its own.
        if variable.startswith(ENV_PREFIX) and variable != ENV_PREFIX + "CONFIG":
            name = variable[len(ENV_PREFIX) :].lower()
            if name and name not in known and name != "extra":
                values[name] = env_value
    values.update(overrides or {})
    extra = {k: v for k, v in values.items() if k not in known}
    return Settings(**{k: v for k, v in values.items() if k in known}, extra=extra)
