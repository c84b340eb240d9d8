"""The 16-bit amount field of STS tokens: a 2-bit exponent and a 14-bit mantissa.

The field is a count of *units*: 0.1 kWh / 0.1 m3 for credit tokens, 1 W for the power
limits of management tokens. With exponent e and mantissa m it stands for

    m * 10**e + sum(2**14 * 10**(i - 1) for i in 1..e)

so e = 0 covers 0..16383 exactly, and each higher exponent continues where the previous one
stops with ten times coarser steps, up to 18,201,624 units (field 0xFFFF).

Encoding picks the smallest representable value that is not below the request: a request is
rounded *up*, never down, so a consumer never receives less than what was paid for. All 45
(requested, carried) pairs of the published compliance tokens agree with this rule, e.g.
18204 -> 18212 units where the nearest would have been 18202 (see docs/sts.md).

Credit amounts arrive as decimal text in kWh or m3. They are first quantized to the standard's
0.1 resolution (half up: "1.82" -> 1.8, "0.4712" -> 0.5, as the compliance tokens show), then
rounded up to a representable value. Only Decimal and int arithmetic is used, never float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from meter_adapters.sts.errors import InvalidStsInput

MANTISSA_BITS = 14
MANTISSA_MAX = (1 << MANTISSA_BITS) - 1
EXPONENT_MAX = 3
TENTH = Decimal("0.1")


def _pow10(exponent: int) -> int:
    return int(10**exponent)


def _offset(exponent: int) -> int:
    return sum((1 << MANTISSA_BITS) * _pow10(i - 1) for i in range(1, exponent + 1))


def _top(exponent: int) -> int:
    return _offset(exponent) + MANTISSA_MAX * _pow10(exponent)


MAX_UNITS = _top(EXPONENT_MAX)  # 18,201,624 units: field 0xFFFF


def decode_amount_field(field: int) -> int:
    """The number of units a 16-bit amount field stands for."""
    if not 0 <= field <= 0xFFFF:
        raise InvalidStsInput(f"expected a 16-bit amount field, found {field:#x}")
    exponent, mantissa = field >> MANTISSA_BITS, field & MANTISSA_MAX
    return mantissa * _pow10(exponent) + _offset(exponent)


def encode_amount_units(units: int) -> int:
    """The field of the smallest representable value >= `units` (rounds up)."""
    if units < 0:
        raise InvalidStsInput(f"expected an amount of at least 0 units, found {units}")
    if units > MAX_UNITS:
        raise InvalidStsInput(
            f"expected an amount of at most {MAX_UNITS} units (field 0xFFFF), found {units}"
        )
    for exponent in range(EXPONENT_MAX + 1):
        if units <= _top(exponent):
            step = _pow10(exponent)
            # Ceiling division; a request in the gap below this range's start becomes m = 0.
            mantissa = max(0, -((_offset(exponent) - units) // step))
            return (exponent << MANTISSA_BITS) | mantissa
    raise AssertionError("unreachable: units <= MAX_UNITS is covered by the last exponent")


def round_units(units: int) -> int:
    """The representable number of units a request of `units` becomes."""
    return decode_amount_field(encode_amount_units(units))


def parse_decimal_amount(text: str) -> int:
    """Decimal text in kWh / m3 ("12", "12.3", "0.4712") -> tenths, quantized half up."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidStsInput(f"expected a decimal amount such as 12.5, found {text!r}") from None
    if not value.is_finite():
        raise InvalidStsInput(f"expected a finite decimal amount, found {text!r}")
    if value < 0:
        raise InvalidStsInput(f"expected an amount of at least 0, found {text!r}")
    tenths = int((value / TENTH).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if tenths > MAX_UNITS:
        raise InvalidStsInput(
            f"expected an amount of at most {format_tenths(MAX_UNITS)}, found {text!r}"
        )
    return tenths


def format_tenths(tenths: int) -> str:
    """Tenths as text with exactly one decimal: 123 -> "12.3"."""
    sign = "-" if tenths < 0 else ""
    whole, tenth = divmod(abs(tenths), 10)
    return f"{sign}{whole}.{tenth}"
