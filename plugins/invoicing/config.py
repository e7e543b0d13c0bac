"""The invoicing plugin's settings, read from ``core.settings.extra``.

``invoicing_tax_rate_bp`` and ``invoicing_issuer_name`` come from the TOML configuration,
the ``FIRESIDE_INVOICING_TAX_RATE_BP`` / ``FIRESIDE_INVOICING_ISSUER_NAME`` environment
variables, or the mapping given to ``create_app``: the core's ``load_settings`` puts every
key it does not know into ``Settings.extra`` (environment values as text).
"""

from __future__ import annotations

from typing import Any

from plugins.invoicing.money import BASIS_POINTS

TAX_RATE_KEY = "invoicing_tax_rate_bp"
ISSUER_KEY = "invoicing_issuer_name"
DEFAULT_ISSUER = "Fireside"


class ConfigError(ValueError):
    """A setting of the plugin has a value it cannot use."""


def _setting(settings: Any, key: str) -> Any:
    return settings.extra.get(key)


def tax_rate_bp(settings: Any) -> int:
    """The tax rate in basis points (0 to 10,000; default 0, no tax)."""
    raw = _setting(settings, TAX_RATE_KEY)
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool):
        raise ConfigError(f"{TAX_RATE_KEY} must be a whole number of basis points, not {raw!r}")
    try:
        rate = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        rate = None
    if not isinstance(rate, int) or not 0 <= rate <= BASIS_POINTS:
        raise ConfigError(
            f"{TAX_RATE_KEY} must be a whole number of basis points from 0 to "
            f"{BASIS_POINTS} (750 = 7.5%), not {raw!r}"
        )
    return rate


def issuer_name(settings: Any) -> str:
    """Who issues the invoices, printed at the top of the PDF."""
    raw = _setting(settings, ISSUER_KEY)
    return str(raw).strip() if raw and str(raw).strip() else DEFAULT_ISSUER
