"""Canonical chain values to and from JSON, and the hex used for hashes, keys and bytes."""

from __future__ import annotations

from typing import Any

from chain import codec
from chain.types import Event, Receipt
from node.api.models import EventModel, ReceiptModel


class BadInput(ValueError):
    """A request value that is not what the API expects; the message says what was found."""


def parse_hex(text: str, what: str, size: int | None = None) -> bytes:
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        raise BadInput(f"{what}: hex digits expected, found {text[:80]!r}") from None
    if size is not None and len(data) != size:
        raise BadInput(f"{what}: {size} bytes ({2 * size} hex digits) expected, found {len(data)} bytes")
    return data


def to_json(value: Any) -> Any:
    """A canonical value as JSON: bytes as ``0x``-hex, map keys as strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(to_json(k))): to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any, where: str = "args") -> Any:
    """JSON (from a request) as a canonical value: floats have no canonical form."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise BadInput(f"{where}: integers expected (the chain has no floats), found {value!r}")
    if isinstance(value, list):
        return [from_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: from_json(v, f"{where}.{k}") for k, v in value.items()}
    raise BadInput(f"{where}: a JSON value expected, found {type(value).__name__}")


def event_model(event: Event) -> EventModel:
    return EventModel(
        contract=event.contract, name=event.name, fields=to_json(event.field_map()), fields_hex=event.fields.hex()
    )


def receipt_model(receipt: Receipt) -> ReceiptModel:
    return ReceiptModel(
        tx_hash=receipt.tx_hash.hex(),
        status="success" if receipt.ok else "failed",
        gas_used=receipt.gas_used,
        error=receipt.error,
        events=[event_model(e) for e in receipt.events],
        return_value=to_json(codec.decode_stored(receipt.return_value)),
        return_value_hex=receipt.return_value.hex(),
    )
