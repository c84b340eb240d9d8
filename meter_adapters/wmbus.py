"""Wireless M-Bus (EN 13757-4 link layer, OMS security) into readings.

A telegram as a radio receiver hands it over:

    L C M(2) A(6) [ELL] [AFL] CI [TPL header] application data

* Link layer: L (length), C, the manufacturer and the address (id 4 BCD bytes LSB first,
  version, device type). Receivers deliver it with or without the CRC-16 (EN 13757-4,
  polynomial 0x3D65) that follows every block; frame format A (CRC after the 10-byte first
  block and every 16 bytes) and format B (L counts the CRCs, at most two CRCs) are checked and
  removed here, and so is the last block's CRC alone, which some receivers keep (and count
  in L) after removing the others.
* ELL (CI 8C..8F): extended link layer; CI 8D/8F carry a session number and may encrypt the
  rest with AES-128-CTR, checked by the payload CRC.
* AFL (CI 90): authentication and fragmentation layer (EN 13757-7, OMS Vol. 2): fragment
  control, message control (the authentication type), key information, the message counter
  that feeds the key derivation of security mode 7, a MAC and the message length. When a key
  is given and the AFL carries a MAC, the MAC is checked before anything is decrypted:
  AES-CMAC with Kmac = AES-CMAC(K, 01 || MC || ID || 07 x 7) over MCL || MC || [ML] || every
  byte from the next CI to the end of the message, truncated to the type's length (8 bytes
  for type 5, the one OMS uses). A telegram handed over already decrypted (2F 2F, no key)
  cannot be checked: its MAC covered the ciphertext the receiver replaced.
* TPL: CI 7A (short header: access number, status, configuration word), CI 72 (long header:
  also the meter's address), CI 73 (long header, then a compact frame), CI 78 (none). The
  configuration word names the OMS security mode: 0 none, 2 DES-CBC with IV = 0 (withdrawn,
  8-byte key), 5 AES-128-CBC with IV = M || A || 8 x access number, 7 AES-128-CBC with
  IV = 0 and the key derived with AES-CMAC from the message counter:
  Kenc = AES-CMAC(K, 00 || MC || ID || 07 x 7) (OMS Vol. 2, key derivation function A).
  Decrypted data starts with 2F 2F; anything else means a wrong key.

The application data are EN 13757-3 records, decoded by ``meter_adapters.mbus``. What is not
(compact frames CI 79, manufacturer CIs A0..B7, Diehl's scrambled "real data", registers in
manufacturer-specific data, the fixed layouts of the BFW 240 radio and of Bmeters' RFM-TX1
with configuration word 0x1006) goes to ``meter_adapters.wmbus_vendors``. The meter
identifier is ``"MAN-IIIIIIII"`` as for wired M-Bus, from the long TPL header when there is one
(the meter behind a repeater), else from the link layer.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from meter_adapters import crc16, mbus
from meter_adapters.errors import (
    AdapterError,
    ChecksumError,
    TruncatedFrame,
    UnsupportedFrame,
    WrongKey,
)
from meter_adapters.reading import Reading
from meter_adapters.wmbus_vendors import (
    VendorFrame,
    bfw,
    bmeters,
    decode_manufacturer,
    diehl,
    manufacturer_data,
)
from meter_adapters.wmbus_vendors.compact import FormatCache, decode_compact, expand, signature

SOURCE: Final = "wmbus"

CI_ELL_SHORT: Final = 0x8C
CI_ELL_LONG: Final = 0x8D
CI_ELL_SHORT_ADDR: Final = 0x8E
CI_ELL_LONG_ADDR: Final = 0x8F
CI_AFL: Final = 0x90
CI_TPL_LONG: Final = 0x72
CI_TPL_SHORT: Final = 0x7A
CI_TPL_NONE: Final = 0x78
CI_COMPACT: Final = 0x79
CI_COMPACT_LONG: Final = 0x73  # compact frame after a long TPL header (EN 13757-7)
CHECK_BYTES: Final = b"\x2f\x2f"
FILLER: Final = 0x2F
# Record headers of compact frames known in advance (a receiver may never have seen a full
# frame of that format), as wmbusmeters' drivers list them: Engelmann FAW water meters
# (CI 73, mode 5): billing date, volume and error flags at the billing date, 15 monthly
# volumes, then time and current volume.
KNOWN_COMPACT_HEADERS: Final = tuple(
    bytes.fromhex(text)
    for text in (
        "426C441301FD17840113C40113840213C40213840313C40313840413C40413840513C40513"
        "840613C40613840713C40713840813046D0413",
    )
)
FIRST_BLOCK: Final = 10  # L C M(2) A(6)
# AFL fragment control (FCL) bits and message control (MCL) authentication types.
AFL_MORE_FRAGMENTS: Final = 0x4000
AFL_HAS_CONTROL: Final = 0x2000  # MCL
AFL_HAS_LENGTH: Final = 0x1000  # ML
AFL_HAS_COUNTER: Final = 0x0800  # MCR
AFL_HAS_MAC: Final = 0x0400
AFL_HAS_KEY_INFO: Final = 0x0200  # KI
# Authentication type (MCL bits 0-3) -> bytes of the AES-CMAC-128 kept in the MAC field
# (EN 13757-7; OMS security profile B uses type 5: 8 bytes). Type 8 is AES-GMAC.
AFL_CMAC_LENGTHS: Final = {3: 2, 4: 4, 5: 8, 6: 12, 7: 16}
# Derivation constants of the OMS key derivation function (messages from the meter).
KDF_ENCRYPTION_FROM_METER: Final = 0x00
KDF_MAC_FROM_METER: Final = 0x01


# --- CRC -----------------------------------------------------------------------------


# CRC-16/EN-13757 (poly 0x3D65, init 0, not reflected, final XOR 0xFFFF): link-layer blocks.
crc16_en13757: Final = crc16.EN13757


def _check_block(block: bytes, crc: bytes, what: str) -> None:
    expected = crc16_en13757(block)
    found = int.from_bytes(crc, "big")
    if expected != found:
        raise ChecksumError(f"wM-Bus {what} CRC {expected:04X} expected, found {found:04X}")


def _format_a_length(length: int) -> int:
    """Bytes on air for L = ``length`` in frame format A (CRC per block)."""
    rest = length + 1 - FIRST_BLOCK
    return length + 1 + 2 + 2 * ((rest + 15) // 16)


def _ends_with_last_block_crc(data: bytes) -> bool:
    """The last two bytes are the frame format A CRC of the last block before them.

    Some receivers (and the wmbusmeters logs of Qundis Q water/Q caloric, Maddalena EVO 868
    and Unismart telegrams) remove the block CRCs but keep the last one and count it in L.
    The CRC is checked, so a frame that merely ends early is still rejected.
    """
    body = len(data) - 2
    if body <= FIRST_BLOCK:
        return False
    start = FIRST_BLOCK + 16 * ((body - FIRST_BLOCK - 1) // 16)
    return crc16_en13757(data[start:body]) == int.from_bytes(data[body:], "big")


def strip_crcs(data: bytes) -> bytes:
    """The telegram without link-layer CRCs, whichever way the receiver delivered it."""
    if not data:
        raise TruncatedFrame("a wM-Bus telegram expected, found 0 bytes")
    length = data[0]
    if length + 1 < FIRST_BLOCK + 1:
        raise TruncatedFrame(f"an L field of at least 10 expected, found {length}")
    if len(data) == _format_a_length(length) and len(data) != length + 1:
        out = bytearray()
        _check_block(data[:FIRST_BLOCK], data[FIRST_BLOCK : FIRST_BLOCK + 2], "block 1")
        out += data[:FIRST_BLOCK]
        pos, number = FIRST_BLOCK + 2, 2
        while pos < len(data):
            block = data[pos : min(pos + 16, len(data) - 2)]
            _check_block(block, data[pos + len(block) : pos + len(block) + 2], f"block {number}")
            out += block
            pos += len(block) + 2
            number += 1
        return bytes(out)
    if len(data) == length + 1:
        # Either no CRCs at all, or frame format B (L counts its CRCs: one after byte 126 and
        # one at the end). Format B is taken only if its CRCs check.
        if len(data) <= 128 and crc16_en13757(data[:-2]) == int.from_bytes(data[-2:], "big"):
            return bytes((length - 2,)) + data[1:-2]
        if len(data) > 128:
            first, second = data[:126], data[128:-2]
            if crc16_en13757(first) == int.from_bytes(data[126:128], "big") and crc16_en13757(
                second
            ) == int.from_bytes(data[-2:], "big"):
                return bytes((length - 4,)) + first[1:] + second
        if _ends_with_last_block_crc(data):
            return bytes((length - 2,)) + data[1:-2]
        return data
    if len(data) < length + 1:
        raise TruncatedFrame(
            f"wM-Bus telegram of {length + 1} bytes (L={length}) expected, found {len(data)}"
        )
    raise UnsupportedFrame(
        f"wM-Bus telegram of {length + 1} bytes, or {_format_a_length(length)} with frame "
        f"format A CRCs (L={length}), expected, found {len(data)}"
    )


# --- decoding --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkHeader:
    control: int
    address: mbus.SecondaryAddress
    raw_address: bytes  # M(2) A(6) as transmitted, for IVs


@dataclass(frozen=True, slots=True)
class WirelessTelegram:
    link: LinkHeader
    telegram: mbus.Telegram
    security_mode: int


def _need(data: bytes, pos: int, count: int, what: str) -> None:
    if pos + count > len(data):
        raise TruncatedFrame(
            f"{count} bytes of {what} at offset {pos} expected, found {max(0, len(data) - pos)}"
        )


def _address(raw: bytes) -> mbus.SecondaryAddress:
    """M(2) ID(4) VER TYPE, as in the link layer and in a long TPL/ELL address."""
    return mbus.SecondaryAddress(
        identification=raw[2:6][::-1].hex().upper(),
        manufacturer=mbus.manufacturer_code(int.from_bytes(raw[0:2], "little")),
        version=raw[6],
        medium=raw[7],
    )


def _aes_key(key: bytes | None, mode: int) -> bytes:
    if key is None:
        raise WrongKey(f"an AES-128 key for security mode {mode} expected, found none")
    if len(key) != 16:
        raise WrongKey(f"a 16-byte AES-128 key expected, found {len(key)} bytes")
    return key


def _ell_decrypt(payload: bytes, key: bytes | None, iv: bytes) -> bytes:
    """ELL AES-128-CTR; the first two decrypted bytes are the CRC of the rest."""
    aes = _aes_key(key, 1)
    decryptor = Cipher(algorithms.AES(aes), modes.CTR(iv)).decryptor()
    plain = decryptor.update(payload) + decryptor.finalize()
    return plain


def _check_payload_crc(plain: bytes, encrypted: bool) -> bytes:
    _need(plain, 0, 2, "ELL payload CRC")
    expected = crc16_en13757(plain[2:])
    found = int.from_bytes(plain[:2], "little")
    if expected != found:
        if encrypted:
            raise WrongKey(
                f"decrypted ELL payload CRC {expected:04X} expected, found {found:04X} "
                "(wrong key or corrupt telegram)"
            )
        raise ChecksumError(f"ELL payload CRC {expected:04X} expected, found {found:04X}")
    return plain[2:]


def _crc_ok(plain: bytes) -> bool:
    return len(plain) >= 2 and crc16_en13757(plain[2:]) == int.from_bytes(plain[:2], "little")


def _cmac(key: bytes, message: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def oms_kdf(key: bytes, constant: int, counter: bytes, identification: bytes) -> bytes:
    """An ephemeral key of OMS security profile B: AES-CMAC(K, DC || MC || ID || 07 x 7),
    with the AFL message counter and the meter's identification as transmitted (LSB first);
    DC 00 gives the encryption key, 01 the MAC key."""
    return _cmac(key, bytes((constant,)) + counter + identification + b"\x07" * 7)


def _cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _des_decrypt(key: bytes | None, data: bytes) -> bytes:
    """Security mode 2: DES-CBC with a zero IV (EN 13757-3:2004, withdrawn from OMS).

    Single DES is TripleDES with three equal keys (``cryptography`` keeps DES only there)."""
    if key is None:
        raise WrongKey("a DES key for security mode 2 expected, found none")
    if len(key) != 8:
        raise WrongKey(f"an 8-byte DES key expected, found {len(key)} bytes")
    decryptor = Cipher(TripleDES(key * 3), modes.CBC(bytes(8))).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _decode_compact_long(data: bytes, formats: FormatCache | None) -> list[mbus.DataRecord]:
    """Records of a compact frame after a long TPL header (CI 73), decrypted and without its
    2F 2F: the format signature, the CRC of the full frame's records, the data, 2F fillers.

    Unlike CI 79 frames, the CRC here is checked: CRC-16/EN-13757 (little-endian) of the
    records rebuilt with the format's headers.
    """
    _need(data, 0, 4, "compact frame format signature and CRC")
    sig = int.from_bytes(data[0:2], "little")
    headers = formats.lookup(sig) if formats is not None else None
    if headers is None:
        headers = next((h for h in KNOWN_COMPACT_HEADERS if signature(h) == sig), None)
    if headers is None:
        raise UnsupportedFrame(
            f"compact frame 73 with format signature {sig:04X}: the record headers of an "
            "earlier full frame of that format expected, found none"
        )
    full = expand(headers, data[4:])
    used = len(full) - len(headers)
    expected, found = crc16_en13757(full), int.from_bytes(data[2:4], "little")
    if expected != found:
        raise ChecksumError(f"compact frame data CRC {expected:04X} expected, found {found:04X}")
    rest = data[4 + used :]
    if rest.strip(bytes((FILLER,))):
        raise UnsupportedFrame(
            f"only 2F fillers after the compact frame's data expected, found {rest.hex().upper()}"
        )
    return mbus.decode_records(full)


def _is_kept_crc_of_replaced_ciphertext(rest: bytes) -> bool:
    """Two bytes after the encrypted blocks of a telegram handed over already decrypted,
    which are not a complete record: the last block's CRC, kept by the receiver (see
    ``_ends_with_last_block_crc``). It covered the ciphertext the receiver replaced with
    clear text, so it cannot be checked; it is dropped. Seen in wmbusmeters' log of an Apator
    Amiplus electricity meter (DE 47 after seven blocks)."""
    if len(rest) != 2:
        return False
    try:
        mbus.decode_records(rest)
    except TruncatedFrame:
        return True
    except AdapterError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class AuthenticationLayer:
    """The fields of an AFL (CI 90) that authentication needs, as transmitted."""

    control: int | None  # MCL: authentication type (bits 0-3) and what the message holds
    counter: bytes | None  # MCR, 4 bytes LSB first
    length: bytes | None  # ML, 2 bytes LSB first
    mac: bytes | None


def _parse_afl(data: bytes, pos: int) -> tuple[AuthenticationLayer, int]:
    """The AFL at ``pos`` (after its CI) and where the next CI is. Its fields follow the
    fragment control word in the order FCL, MCL, KI, MCR, MAC, ML (EN 13757-7), each present
    when its FCL bit says so, and must fill the AFL's length exactly: a MAC whose position is
    uncertain cannot be checked."""
    _need(data, pos, 1, "AFL length")
    afl_len = data[pos]
    _need(data, pos + 1, afl_len, "AFL")
    afl = data[pos + 1 : pos + 1 + afl_len]
    _need(afl, 0, 2, "AFL fragmentation control")
    fcl = int.from_bytes(afl[0:2], "little")
    if fcl & AFL_MORE_FRAGMENTS:
        raise UnsupportedFrame("an unfragmented telegram expected, found an AFL fragment")
    at = 2
    control = counter = length = mac = None
    if fcl & AFL_HAS_CONTROL:
        _need(afl, at, 1, "AFL message control")
        control = afl[at]
        at += 1
    if fcl & AFL_HAS_KEY_INFO:
        _need(afl, at, 2, "AFL key information")
        at += 2
    if fcl & AFL_HAS_COUNTER:
        _need(afl, at, 4, "AFL message counter")
        counter = afl[at : at + 4]
        at += 4
    if fcl & AFL_HAS_MAC:
        if control is None:
            raise UnsupportedFrame(
                "an AFL message control field (the MAC's authentication type) expected "
                "before the MAC, found none"
            )
        kind = control & 0x0F
        if kind not in AFL_CMAC_LENGTHS:
            raise UnsupportedFrame(
                f"AFL authentication type 3-7 (AES-CMAC-128) expected, found {kind}"
                + (" (AES-GMAC)" if kind == 8 else "")
            )
        size = AFL_CMAC_LENGTHS[kind]
        _need(afl, at, size, "AFL MAC")
        mac = afl[at : at + size]
        at += size
    if fcl & AFL_HAS_LENGTH:
        _need(afl, at, 2, "AFL message length")
        length = afl[at : at + 2]
        at += 2
    if at != afl_len:
        raise UnsupportedFrame(
            f"an AFL of {at} bytes (the fields its control word {fcl:04X} lists) expected, "
            f"found AFLL = {afl_len}"
        )
    return AuthenticationLayer(control, counter, length, mac), pos + 1 + afl_len


def check_afl_mac(
    afl: AuthenticationLayer, key: bytes, identification: bytes, message: bytes
) -> None:
    """Check the AFL's MAC (when it has one) over ``message``, the bytes from the CI after
    the AFL to the end of the telegram: AES-CMAC with the MAC key derived from ``key``, the
    message counter and ``identification`` (the meter's, LSB first), over
    MCL || MCR || [ML] || message, truncated to the MAC's length (OMS Vol. 2, EN 13757-7)."""
    if afl.mac is None:
        return
    assert afl.control is not None  # _parse_afl requires it before a MAC
    if afl.counter is None:
        raise UnsupportedFrame(
            "an AFL message counter (the MAC key's derivation input) expected, found none"
        )
    mac_key = oms_kdf(key, KDF_MAC_FROM_METER, afl.counter, identification)
    covered = bytes((afl.control,)) + afl.counter + (afl.length or b"") + message
    expected = _cmac(mac_key, covered)[: len(afl.mac)]
    if not hmac.compare_digest(expected, afl.mac):
        raise WrongKey(
            f"AFL MAC {expected.hex().upper()} expected (AES-CMAC of the {len(message)} bytes "
            f"from CI {message[0]:02X} with the key derived for message counter "
            f"{int.from_bytes(afl.counter, 'little')} and meter "
            f"{identification[::-1].hex().upper()}), found {afl.mac.hex().upper()}: the "
            "telegram was changed after the meter sent it, or the key is not this meter's"
        )


def decode_wmbus(
    data: bytes, key: bytes | None = None, formats: FormatCache | None = None
) -> WirelessTelegram:
    """Decode a wireless telegram down to its EN 13757-3 records.

    ``formats``: the receiver's cache of compact-frame formats; full frames teach it their
    record headers, compact frames (CI 79) are read with it. Without one only the formats
    known in advance are read.
    """
    frame = strip_crcs(data)
    _need(frame, 0, FIRST_BLOCK + 1, "link header and CI")
    raw_address = frame[2:10]
    link = LinkHeader(frame[1], _address(raw_address), raw_address)
    address = link.address
    iv_address = raw_address
    pos = FIRST_BLOCK
    afl: AuthenticationLayer | None = None
    afl_end = 0
    while True:
        _need(frame, pos, 1, "CI field")
        ci = frame[pos]
        if ci in (CI_ELL_SHORT, CI_ELL_SHORT_ADDR, CI_ELL_LONG, CI_ELL_LONG_ADDR):
            with_address = ci in (CI_ELL_SHORT_ADDR, CI_ELL_LONG_ADDR)
            with_session = ci in (CI_ELL_LONG, CI_ELL_LONG_ADDR)
            size = 2 + (8 if with_address else 0) + (4 if with_session else 0)
            _need(frame, pos + 1, size, "extended link layer")
            ell = frame[pos + 1 : pos + 1 + size]
            pos += 1 + size
            if with_session:
                session = int.from_bytes(ell[-4:], "little")
                encryption = session >> 29
                rest = frame[pos:]
                if encryption == 1 and key is None and _crc_ok(rest):
                    # Already decrypted by the receiver, which left the ELL as it was.
                    plain = rest[2:]
                elif encryption == 1:
                    iv = raw_address + ell[0:1] + ell[-4:] + b"\x00\x00\x00"
                    plain = _check_payload_crc(_ell_decrypt(rest, key, iv), True)
                elif encryption == 0:
                    plain = _check_payload_crc(rest, False)
                else:
                    raise UnsupportedFrame(
                        f"ELL encryption 0 or 1 (AES-CTR) expected, found {encryption}"
                    )
                frame, pos = plain, 0
            continue
        if ci == CI_AFL:
            afl, pos = _parse_afl(frame, pos + 1)
            afl_end = pos
            continue
        break
    pos += 1
    if afl is not None and afl.mac is not None and key is not None:
        # Checked before anything is decrypted or decoded. The key derivation takes the
        # meter's identification from the long TPL header when there is one (the meter
        # behind a repeater), else from the link layer.
        if ci in (CI_TPL_LONG, CI_COMPACT_LONG):
            _need(frame, pos, 4, "long TPL header")
            identification = frame[pos : pos + 4]
        else:
            identification = raw_address[2:6]
        check_afl_mac(afl, _aes_key(key, 7), identification, frame[afl_end:])
    access = status = configuration = 0
    if ci in (CI_TPL_LONG, CI_COMPACT_LONG):
        _need(frame, pos, 12, "long TPL header")
        tpl = frame[pos : pos + 8]
        iv_address = tpl[4:6] + tpl[0:4] + tpl[6:8]
        address = _address(iv_address)
        access, status = frame[pos + 8], frame[pos + 9]
        configuration = int.from_bytes(frame[pos + 10 : pos + 12], "little")
        pos += 12
    elif ci == CI_TPL_SHORT:
        _need(frame, pos, 4, "short TPL header")
        access, status = frame[pos], frame[pos + 1]
        configuration = int.from_bytes(frame[pos + 2 : pos + 4], "little")
        pos += 4
    elif ci == CI_COMPACT:
        compact = tuple(decode_compact(frame[pos:], formats))
        return WirelessTelegram(link, mbus.Telegram(address, 0, 0, compact), 0)
    elif 0xA0 <= ci <= 0xB7:
        vendor = VendorFrame(address.manufacturer, raw_address, ci, frame[pos:])
        decoded = decode_manufacturer(vendor, key)
        telegram = mbus.Telegram(decoded.address or address, 0, 0, decoded.records)
        return WirelessTelegram(link, telegram, 0)
    elif ci != CI_TPL_NONE:
        raise UnsupportedFrame(
            f"an OMS CI field (72, 73, 78, 7A, 8C-8F, 90) expected, found {ci:02X} "
            "(manufacturer-specific application layer)"
        )
    mode = mbus.security_mode(configuration)
    payload = frame[pos:]
    if bmeters.is_obfuscated(address, configuration):
        records = bmeters.decode(access, payload)
        return WirelessTelegram(link, mbus.Telegram(address, access, status, records), 0)
    if diehl.is_real_data(link.address.manufacturer, ci, configuration) and pos == 15:
        payload = diehl.real_data(frame, key)
        records = tuple(mbus.decode_records(payload))
        return WirelessTelegram(link, mbus.Telegram(address, access, status, records), 0)
    if mode == 5 and key is None and diehl.is_diehl(link.address.manufacturer):
        key = None if payload[:2] == CHECK_BYTES else diehl.DEFAULT_AES_KEY
    if mode in (5, 7):
        blocks = (configuration >> 4) & 0x0F
        if mode == 7:
            _need(frame, pos, 1, "configuration field extension")
            payload = frame[pos + 1 :]
        size = 16 * blocks if blocks else len(payload) - len(payload) % 16
        if size == 0 or len(payload) < size:
            raise TruncatedFrame(
                f"{size or 16} encrypted bytes (security mode {mode}) expected, found {len(payload)}"
            )
        if key is None and payload[:2] == CHECK_BYTES:
            # A receiver that decrypts (wmbusmeters, gateways) hands the telegram over with
            # the configuration word unchanged; 2F 2F says the data are already clear.
            aes = b""
        else:
            aes = _aes_key(key, mode)
        if not aes:
            plain = payload[:size]
        elif mode == 5:
            plain = _cbc_decrypt(aes, iv_address + bytes((access,)) * 8, payload[:size])
        else:
            if afl is None or afl.counter is None:
                raise UnsupportedFrame(
                    "an AFL message counter for security mode 7 expected, found none"
                )
            derived = oms_kdf(aes, KDF_ENCRYPTION_FROM_METER, afl.counter, iv_address[2:6])
            plain = _cbc_decrypt(derived, bytes(16), payload[:size])
        if plain[:2] != CHECK_BYTES:
            raise WrongKey(
                f"decrypted payload starting 2F 2F expected, found {plain[0]:02X} {plain[1]:02X}"
            )
        rest = payload[size:]
        if not aes and _is_kept_crc_of_replaced_ciphertext(rest):
            rest = b""
        payload = plain + rest
    elif mode == 2:
        blocks = (configuration >> 4) & 0x0F
        size = 16 * blocks if blocks else len(payload) - len(payload) % 8
        if size == 0 or len(payload) < size:
            raise TruncatedFrame(
                f"{size or 8} encrypted bytes (security mode 2) expected, found {len(payload)}"
            )
        plain = _des_decrypt(key, payload[:size])
        if plain[:2] != CHECK_BYTES:
            raise WrongKey(
                f"decrypted payload starting 2F 2F expected, found {plain[0]:02X} {plain[1]:02X}"
            )
        payload = plain + payload[size:]
    elif mode != 0:
        raise UnsupportedFrame(
            f"security mode 0, 2, 5 or 7 expected, found {mode} "
            + ("(DES with IV)" if mode == 3 else "(not supported)")
        )
    if ci == CI_COMPACT_LONG:
        # Decrypted data open with the 2F 2F just checked; clear data have none.
        compact = tuple(_decode_compact_long(payload[2:] if mode else payload, formats))
        return WirelessTelegram(link, mbus.Telegram(address, access, status, compact), mode)
    if mode == 0 and bfw.is_bfw240(address):
        records = bfw.decode(payload)
        return WirelessTelegram(link, mbus.Telegram(address, access, status, records), 0)
    records = tuple(mbus.decode_records(payload))
    if formats is not None:
        formats.learn(records)
    records += manufacturer_data(address, records)
    return WirelessTelegram(link, mbus.Telegram(address, access, status, records), mode)


def parse_wmbus(
    data: bytes, key: bytes | None = None, formats: FormatCache | None = None
) -> list[Reading]:
    """Readings of one wireless M-Bus telegram (a wired long frame 68... is also accepted,
    as some receivers hand those over). ``key``: the meter's 16-byte AES key, if encrypted."""
    try:
        if data[:1] == bytes((mbus.START_LONG,)):
            telegram = mbus.decode_frame(data)
        else:
            telegram = decode_wmbus(data, key, formats).telegram
    except AdapterError:
        raise
    except (ValueError, IndexError) as exc:  # pragma: no cover - defensive
        raise UnsupportedFrame(f"a decodable wM-Bus telegram expected, found {exc}") from None
    readings = mbus.telegram_readings(telegram, data, SOURCE)
    if not readings:
        raise UnsupportedFrame(
            f"at least one record with a physical quantity expected, found none in "
            f"{len(telegram.records)} records"
        )
    return readings
