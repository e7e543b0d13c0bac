"""Money as the invoicing plugin handles it: integer minor units plus an ISO 4217 code.

Amounts never pass through floats. Events and the plugin's table carry integer minor units
(kobo, cents); the FHIR Invoice carries ``Money.value`` as a decimal, written with exactly the
currency's number of decimals (``15000`` NGN minor units is ``150.00``, ``1500`` JPY is
``1500``). :func:`to_decimal` makes that decimal, :func:`format_money` the human form
(``NGN 15,000.00``), and :func:`tax_of` the tax on a net amount, rounded half up.
"""

from __future__ import annotations

from decimal import Decimal

MINOR_UNITS: dict[str, int] = {
    # Africa
    "NGN": 2,
    "KES": 2,
    "GHS": 2,
    "ZAR": 2,
    "EGP": 2,
    "MAD": 2,
    "TZS": 2,
    "ETB": 2,
    "ZMW": 2,
    "BWP": 2,
    "MWK": 2,
    "NAD": 2,
    "MUR": 2,
    "SLE": 2,
    "LRD": 2,
    "GMD": 2,
    "UGX": 0,
    "RWF": 0,
    "BIF": 0,
    "DJF": 0,
    "GNF": 0,
    "KMF": 0,
    "XOF": 0,
    "XAF": 0,
    "TND": 3,
    "LYD": 3,
    # Elsewhere
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "CNY": 2,
    "INR": 2,
    "PKR": 2,
    "AED": 2,
    "SAR": 2,
    "BRL": 2,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
}
"""ISO 4217 minor units (digits after the decimal point) of the currencies invoiced."""

BASIS_POINTS = 10_000
"""Basis points in a whole (10,000 bp = 100 %)."""


class UnknownCurrency(ValueError):
    """A currency code this plugin has no minor-unit entry for."""

    def __init__(self, code: object) -> None:
        super().__init__(
            f"Unknown currency {code!r}: invoicing supports the ISO 4217 codes "
            + ", ".join(sorted(MINOR_UNITS))
        )
        self.code = code


def exponent(currency: str) -> int:
    """The number of decimals of ``currency``; :class:`UnknownCurrency` if not supported."""
    try:
        return MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(currency) from None


def to_decimal(amount: int, currency: str) -> Decimal:
    """``amount`` minor units as a decimal with exactly the currency's decimals
    (``Decimal("150.00")`` for 15000 NGN; ``Decimal("1500")`` for 1500 JPY)."""
    return Decimal(amount).scaleb(-exponent(currency))


def fhir_money(amount: int, currency: str) -> dict[str, object]:
    """A FHIR ``Money`` (``value`` a Decimal, serialised as written by the core's jsonio)."""
    return {"value": to_decimal(amount, currency), "currency": currency}


def format_money(amount: int, currency: str) -> str:
    """The human form: the code, thousands separators and the currency's decimals
    (``NGN 15,000.00``, ``JPY 1,500``, ``KWD 1.250``)."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    return f"{currency} {sign}{text}"


def tax_of(net: int, rate_bp: int) -> int:
    """The tax on ``net`` minor units at ``rate_bp`` basis points, rounded half up to a
    whole minor unit, in integers only (1 unit at 750 bp is 0.075: 0; 15 at 5000 bp is
    7.5: 8). Amounts and rates are never negative here."""
    if net < 0 or rate_bp < 0:
        raise ValueError("tax is computed on non-negative amounts and rates only")
    return (net * rate_bp + BASIS_POINTS // 2) // BASIS_POINTS


def rate_factor(rate_bp: int) -> Decimal:
    """The rate as a plain decimal fraction (750 bp: ``0.075``), for ``priceComponent.factor``."""
    return Decimal(format(Decimal(rate_bp).scaleb(-4).normalize(), "f"))


def rate_percent(rate_bp: int) -> str:
    """The rate as a percentage without trailing zeros (750 bp: ``7.5%``; 1000 bp: ``10%``)."""
    return format(Decimal(rate_bp).scaleb(-2).normalize(), "f") + "%"
