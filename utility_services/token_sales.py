"""The vending service's side of a token-meter sale on chain (contracts/payments/tokens.py):
read the sale's token request and issue its 20-digit STS token.

The chain decides what the token carries: the meter, the amount in tenths of a kWh or m3 and
the TID (minutes since 2014-01-01, always after the meter's previous token). The vending side
adds only what it alone holds: the vending key and the meter's key parameters (PAN, supply
group, tariff index, key revision), kept off chain. The token's random number is taken from
the sale's ``sts_ref``, so the token is a function of the request: a reissue after a lost
token gives the same 20 digits, which the meter refuses a second time (same TID), so a
reissue can never credit twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meter_adapters.sts.errors import InvalidStsInput
from meter_adapters.sts.tid import TID_MAX, BaseDate
from meter_adapters.sts.token import CreditSubclass
from utility_services.sts_vending import IssuedToken, Meter, Vendor

# The base date the chain counts TIDs from (contracts/payments/tokens.py, TID_BASE).
CHAIN_TID_BASE = BaseDate.Y2014
RANDOM_TAG = b"mc/sts-random"


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What a token sale on chain asks the vending service to issue."""

    sale_id: str
    meter_id: str
    subclass: CreditSubclass
    tenths: int
    tid: int
    sts_ref: bytes

    @classmethod
    def from_sale(cls, sale: Mapping[str, Any]) -> TokenRequest:
        """The request of a ``payments.token_sale`` record, checked field by field."""
        token = sale.get("token")
        if not isinstance(token, Mapping):
            raise InvalidStsInput(f"expected a token sale record with a token request, found {sorted(sale)}")
        cancelled = sale.get("cancelled")
        if cancelled is not None:  # payments.reverse_token_sale: its TID must never be vended
            raise InvalidStsInput(f"expected a sale not reversed, found {sale.get('id')} reversed (TID "
                                  f"{cancelled.get('tid') if isinstance(cancelled, Mapping) else cancelled} cancelled)")
        if token.get("tid_base") != "2014-01-01":
            raise InvalidStsInput(f"expected TIDs counted from 2014-01-01, found {token.get('tid_base')!r}")
        tid, tenths, subclass = token.get("tid"), token.get("tenths"), token.get("subclass")
        if not (isinstance(tid, int) and 0 <= tid <= TID_MAX):
            raise InvalidStsInput(f"expected a TID in 0..{TID_MAX}, found {tid!r}")
        if not (isinstance(tenths, int) and tenths > 0):
            raise InvalidStsInput(f"expected a positive amount in tenths, found {tenths!r}")
        if not isinstance(subclass, int) or subclass not in CreditSubclass._value2member_map_:
            raise InvalidStsInput(f"expected credit subclass 0, 1 or 2, found {subclass!r}")
        sts_ref = sale.get("sts_ref")
        if not (isinstance(sts_ref, bytes) and len(sts_ref) == 32):
            raise InvalidStsInput(f"expected a 32-byte sts_ref, found {sts_ref!r}")
        return cls(str(sale["id"]), str(token["meter"]), CreditSubclass(subclass), tenths, tid, sts_ref)

    @property
    def random(self) -> int:
        """The token's 4-bit random number, fixed by the request (so a reissue is the same token)."""
        return hashlib.sha256(RANDOM_TAG + self.sts_ref).digest()[0] & 0x0F


def issue_sale_token(vendor: Vendor, meter: Meter, request: TokenRequest) -> IssuedToken:
    """The token of ``request`` for ``meter`` (whose key parameters the vending side holds):
    the same digits every time it is asked."""
    if meter.base_date is not CHAIN_TID_BASE:
        raise InvalidStsInput(
            f"expected meter {meter.pan.digits} on base date {CHAIN_TID_BASE.value} (the chain's TIDs),"
            f" found base date {meter.base_date.value}"
        )
    return vendor.credit_at_tid(meter, request.subclass, request.tenths, request.tid, random=request.random)


def issue_from_chain(
    vendor: Vendor,
    meters: Mapping[str, Meter],
    view: Callable[[str, str, list[Any]], Any],
    sale_id: str,
) -> IssuedToken:
    """Read sale ``sale_id`` through ``view(contract, function, args)`` (a node client's or a
    local chain's) and issue its token for the meter's key parameters in ``meters``."""
    sale = view("payments", "token_sale", [sale_id])
    if sale is None:
        raise InvalidStsInput(f"expected a token sale {sale_id} on chain, found none")
    request = TokenRequest.from_sale(sale)
    meter = meters.get(request.meter_id)
    if meter is None:
        raise InvalidStsInput(f"expected the key parameters of meter {request.meter_id}, found none")
    return issue_sale_token(vendor, meter, request)
