"""The signed reading a smart meter with its own Ed25519 key offers to a phone over NFC.

The meter signs ``[meter, register, index, unit, timestamp]`` (canonical encoding) in the
``METER_READING`` domain, exactly what the billing contract verifies with the meter's
registered public key; the phone reads it as an NDEF message and puts the signature into a
reading transaction, so the chain can tell a meter-signed reading from a typed-in one.

NDEF layout (NFC Forum NDEF 1.0): one record per message, here::

    byte 0      header: MB=1 ME=1 CF=0 SR=1 IL=0 TNF=0x4 (NFC Forum external type) -> 0xD4
    byte 1      TYPE LENGTH = 22
    byte 2      PAYLOAD LENGTH (1 byte when SR=1; 4 bytes big-endian when SR=0)
    [ID LENGTH  only when IL=1]
    TYPE        "meterchain.org:reading"
    [ID]
    PAYLOAD     chain.codec.encode([meter, register, index, unit, timestamp, signature])

A message may carry other records beside ours (an Android Application Record, say); the
parser walks every record, checks MB on the first and ME on the last, and requires exactly
one record of our type. Chunked records (CF) are refused: a 6-field reading is ~130
bytes, never chunked by a conforming writer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain
from chain.signatures import keypair_from_seed, sign, verify
from chain.types import SIGNATURE_SIZE, Timestamp
from meter_adapters.errors import AdapterError, TruncatedFrame, UnsupportedFrame
from meter_adapters.obis import ObisError, normalize_obis, quantity_for
from meter_adapters.reading import UNITS, Reading, raw_hash

SOURCE: Final = "nfc"
RECORD_TYPE: Final = b"meterchain.org:reading"

# NDEF record header bits.
MB: Final = 0x80  # message begin
ME: Final = 0x40  # message end
CF: Final = 0x20  # chunk flag
SR: Final = 0x10  # short record: 1-byte payload length
IL: Final = 0x08  # an ID length byte and an ID are present
TNF_MASK: Final = 0x07
TNF_EMPTY: Final = 0x00
TNF_EXTERNAL: Final = 0x04
TNF_UNCHANGED: Final = 0x06
MAX_PAYLOAD: Final = 4096

BASE_UNITS: Final = frozenset(base for _, base in UNITS.values())


class InvalidMeterSignature(AdapterError):
    """A signed reading whose signature does not verify with the meter's public key."""


@dataclass(frozen=True, slots=True)
class NdefRecord:
    tnf: int
    type: bytes
    id: bytes
    payload: bytes


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A register value signed by the meter itself."""

    meter: str
    register: str  # OBIS code "1-0:1.8.0", or "volume" for a meter without one
    index: int  # register value in ``unit``
    unit: str  # a base unit: "Wh", "dm3", "J", ...
    timestamp: Timestamp  # unix seconds UTC, from the meter's clock
    signature: bytes  # 64 bytes, or b"" before signing

    def signed_fields(self) -> list[Any]:
        return [self.meter, self.register, self.index, self.unit, self.timestamp]

    def message(self) -> bytes:
        """What the meter signs, after the METER_READING domain tag."""
        return codec.encode(self.signed_fields())

    def encode(self) -> bytes:
        return codec.encode([*self.signed_fields(), self.signature])

    def verify(self, public_key: bytes) -> None:
        if not verify(public_key, Domain.METER_READING, self.message(), self.signature):
            raise InvalidMeterSignature(
                f"a signature by meter key {bytes(public_key).hex()} over reading "
                f"{self.meter} {self.register}={self.index} {self.unit} at {self.timestamp} "
                "expected, found one that does not verify"
            )

    def to_reading(self, frame: bytes) -> Reading:
        """The normalized reading; ``frame`` is the NDEF message it came in."""
        try:
            obis: str | None = normalize_obis(self.register)
        except ObisError:
            obis = None
        return Reading(
            self.meter,
            obis,
            quantity_for(obis, self.unit),
            self.index,
            self.unit,
            self.timestamp,
            SOURCE,
            raw_hash(frame),
        )

    @classmethod
    def decode(cls, payload: bytes) -> SignedReading:
        try:
            value = codec.decode(payload, max_size=MAX_PAYLOAD)
        except DecodeError as exc:
            raise UnsupportedFrame(f"reading payload: {exc}") from None
        if not isinstance(value, list) or len(value) != 6:
            found = f"{len(value)} fields" if isinstance(value, list) else type(value).__name__
            raise UnsupportedFrame(
                "reading payload: [meter, register, index, unit, timestamp, signature] "
                f"expected, found {found}"
            )
        meter, register, index, unit, timestamp, signature = value
        _expect(
            isinstance(meter, str) and 0 < len(meter) <= 64,
            "meter: text of 1..64 characters",
            meter,
        )
        _expect(
            isinstance(register, str) and 0 < len(register) <= 32,
            "register: text of 1..32 characters",
            register,
        )
        _expect(_is_int(index) and index >= 0, "index: a non-negative integer", index)
        _expect(
            isinstance(unit, str) and unit in BASE_UNITS, f"unit: one of {sorted(BASE_UNITS)}", unit
        )
        _expect(
            _is_int(timestamp) and timestamp >= 0, "timestamp: non-negative unix seconds", timestamp
        )
        _expect(
            isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE,
            f"signature: {SIGNATURE_SIZE} bytes",
            signature,
        )
        return cls(meter, register, index, unit, Timestamp(timestamp), signature)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(ok: bool, expected: str, found: Any) -> None:
    if not ok:
        shown = f"{len(found)} bytes" if isinstance(found, bytes) else repr(found)
        raise UnsupportedFrame(f"reading payload {expected} expected, found {shown}")


def sign_reading(
    seed: bytes, meter: str, register: str, index: int, unit: str, timestamp: Timestamp
) -> SignedReading:
    """What the meter's firmware does: sign its register with its own key."""
    unsigned = SignedReading(meter, register, index, unit, timestamp, b"")
    return SignedReading(
        meter,
        register,
        index,
        unit,
        timestamp,
        bytes(sign(seed, Domain.METER_READING, unsigned.message())),
    )


def meter_public_key(seed: bytes) -> bytes:
    return bytes(keypair_from_seed(seed)[1])


# --- NDEF -------------------------------------------------------------------------------


def encode_record(record: NdefRecord, first: bool, last: bool) -> bytes:
    short = len(record.payload) <= 0xFF
    header = (
        (MB if first else 0) | (ME if last else 0) | (SR if short else 0) | (IL if record.id else 0)
    )
    header |= record.tnf & TNF_MASK
    out = bytes([header, len(record.type)])
    out += bytes([len(record.payload)]) if short else struct.pack(">I", len(record.payload))
    if record.id:
        out += bytes([len(record.id)])
    return out + record.type + record.id + record.payload


def encode_message(records: list[NdefRecord]) -> bytes:
    if not records:
        raise ValueError("an NDEF message holds at least one record")
    return b"".join(encode_record(r, i == 0, i == len(records) - 1) for i, r in enumerate(records))


def parse_message(data: bytes) -> list[NdefRecord]:
    """Every record of an NDEF message, checking the MB/ME flags and the lengths."""
    data = bytes(data)
    records: list[NdefRecord] = []
    pos = 0
    while True:
        if pos >= len(data):
            raise TruncatedFrame(
                f"an NDEF record header at offset {pos} expected (no record had ME set), found end of input"
            )
        header = data[pos]
        first = not records
        if bool(header & MB) != first:
            raise UnsupportedFrame(
                f"NDEF record {len(records)}: MB {'set' if first else 'clear'} expected, "
                f"found it {'set' if header & MB else 'clear'}"
            )
        if header & CF:
            raise UnsupportedFrame(
                f"NDEF record {len(records)}: an unchunked record expected, found CF set"
            )
        tnf = header & TNF_MASK
        if tnf == TNF_UNCHANGED:
            raise UnsupportedFrame(
                f"NDEF record {len(records)}: TNF 0x6 (unchanged) outside a chunk"
            )
        size_len = 1 if header & SR else 4
        fixed = 2 + size_len + (1 if header & IL else 0)
        if pos + fixed > len(data):
            raise TruncatedFrame(
                f"NDEF record {len(records)}: a {fixed}-byte header expected, found {len(data) - pos} bytes"
            )
        type_len = data[pos + 1]
        payload_len = (
            data[pos + 2] if size_len == 1 else struct.unpack(">I", data[pos + 2 : pos + 6])[0]
        )
        id_len = data[pos + 2 + size_len] if header & IL else 0
        if payload_len > MAX_PAYLOAD:
            raise UnsupportedFrame(
                f"NDEF payload of at most {MAX_PAYLOAD} bytes expected, found {payload_len}"
            )
        body = pos + fixed
        end = body + type_len + id_len + payload_len
        if end > len(data):
            raise TruncatedFrame(
                f"NDEF record {len(records)}: {end - body} bytes of type, id and payload expected, "
                f"found {len(data) - body}"
            )
        if tnf == TNF_EMPTY and (type_len or id_len or payload_len):
            raise UnsupportedFrame(
                f"NDEF record {len(records)}: an empty record (TNF 0) with no fields expected"
            )
        record_type = data[body : body + type_len]
        record_id = data[body + type_len : body + type_len + id_len]
        payload = data[body + type_len + id_len : end]
        records.append(NdefRecord(tnf, record_type, record_id, payload))
        pos = end
        if header & ME:
            break
    if pos != len(data):
        raise UnsupportedFrame(
            f"the NDEF message to end with its ME record, found {len(data) - pos} bytes after it"
        )
    return records


def encode_signed_reading(reading: SignedReading) -> bytes:
    """The NDEF message the meter serves over NFC."""
    return encode_message([NdefRecord(TNF_EXTERNAL, RECORD_TYPE, b"", reading.encode())])


def parse_signed_reading(
    data: bytes, public_key: bytes | None = None
) -> tuple[SignedReading, Reading]:
    """Parse an NDEF message holding one meterchain reading record; verify its signature
    when the meter's public key is given. Returns the signed record and its normalized
    reading (source "nfc", raw_hash over the whole NDEF message)."""
    ours = [
        r for r in parse_message(data) if r.tnf == TNF_EXTERNAL and r.type.lower() == RECORD_TYPE
    ]
    if len(ours) != 1:
        raise UnsupportedFrame(
            f"exactly one NDEF external record of type {RECORD_TYPE.decode()} expected, found {len(ours)}"
        )
    signed = SignedReading.decode(ours[0].payload)
    if public_key is not None:
        signed.verify(public_key)
    return signed, signed.to_reading(bytes(data))


def parse_nfc(data: bytes, key: bytes | None = None) -> list[Reading]:
    """Adapter form for the CLI: ``key`` is the meter's 32-byte public key (optional)."""
    return [parse_signed_reading(data, key)[1]]
