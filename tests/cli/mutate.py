"""A seeded mutator over real inputs, for fuzzing the commands that read files.

``mutations(seed_inputs, rng, count)`` yields ``count`` inputs, each a real fixture changed
by one to three edits. The edits are what breaks parsers in practice: bytes flipped,
inserted, deleted, repeated or cut off; a number replaced by one at or past a limit (64 bits,
the year 9999, 4,300 digits); text that is not UTF-8, control characters, deep nesting. For
JSON and CSV the same values are also put where a field was, so that the value reaches the
checks behind the parser instead of stopping at a syntax error.

Everything is drawn from the ``random.Random`` passed in: a fixed seed gives the same inputs
on every run and every machine (no clock, no hash randomization).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

# Byte strings that sit at, or just past, a limit somewhere.
INTERESTING_BYTES: tuple[bytes, ...] = (
    b"0", b"-1", b"1.5", b"2.5e3", b"1e999", b"NaN", b"-0",
    b"255", b"256", b"65535", b"65536", b"2147483648", b"9223372036854775808", b"18446744073709551616",
    b"9" * 40, b"1" * 5000,
    b"10000-01-01T00:00:00Z", b"0001-01-01", b"9999-12-31T23:59:59+14:00", b"253402300800",
    b"\xff", b"\xc3\x28", b"\x00", b"\r\n", b"\n\n", b'"', b",", b"\\", b"\xe2\x80\xa8", b"\xef\xbb\xbf",
    b"[" * 200, b"{" * 50, b"(" * 200, b"\x7e", b"\x68", b"\x16",
)  # fmt: skip

# JSON values for a field of a JSON document.
INTERESTING_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 2.5, 1e308, 2**64, 2**70, -(2**63) - 1, 10**30, "", "x" * 300, "\n", "\x00",
    "10000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2025-13-01", [], {}, [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]],
    {"a": 1}, [None, 2.5], "²", "٣",
)  # fmt: skip

_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?")


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to three byte-level edits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        edit = rng.randrange(9)
        at = rng.randrange(len(out) + 1)
        digits = [i for i, b in enumerate(out) if 0x30 <= b <= 0x39] if edit == 8 else []
        if digits:  # one digit for another: the syntax holds, the value moves
            out[rng.choice(digits)] = rng.randrange(0x30, 0x3A)
        elif edit == 0 and out:  # flip bits of one byte
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif edit == 1:  # insert random bytes
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif edit == 2 and out:  # delete a span
            out[at : at + rng.randint(1, 16)] = b""
        elif edit == 3 and out:  # repeat a span
            span = bytes(out[at : at + rng.randint(1, 64)])
            out[at:at] = span * rng.randint(1, 20)
        elif edit == 4:  # cut off the end
            del out[at:]
        elif edit == 5:  # insert an interesting byte string
            out[at:at] = rng.choice(INTERESTING_BYTES)
        else:  # replace a number by an interesting one
            numbers = list(_NUMBER.finditer(out))
            if numbers:
                match = rng.choice(numbers)
                out[match.start() : match.end()] = rng.choice(INTERESTING_BYTES)
            elif out:
                out[min(at, len(out) - 1)] = rng.randrange(256)
    return bytes(out)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def mutate_json(data: bytes, rng: random.Random) -> bytes:
    """A JSON document with one field replaced by an interesting value (or renamed, or
    dropped), written back as JSON; byte-level edits when ``data`` is not JSON."""
    try:
        doc = json.loads(data)
    except ValueError:
        return mutate_bytes(data, rng)
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return json.dumps(rng.choice(INTERESTING_VALUES)).encode()
    path = rng.choice(paths)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    edit = rng.randrange(8)
    current = parent[last]
    if edit >= 6 and isinstance(current, int) and not isinstance(current, bool):
        parent[last] = rng.randint(0, 2 * abs(current) + 10)  # a plausible other value
    elif edit == 0 and isinstance(parent, dict):
        parent[rng.choice(["x", "note", "\n", str(last) + "_"])] = parent.pop(last)
    elif edit == 1:
        del parent[last]
    else:
        parent[last] = rng.choice(INTERESTING_VALUES)
    return json.dumps(doc).encode()


def mutate_csv(data: bytes, rng: random.Random) -> bytes:
    """A CSV text with one cell replaced, a row repeated or dropped; byte-level edits when
    ``data`` is not UTF-8."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error):
        return mutate_bytes(data, rng)
    if not rows:
        return mutate_bytes(data, rng)
    row = rng.choice(rows)
    edit = rng.randrange(4)
    if edit == 0 and row:
        row[rng.randrange(len(row))] = rng.choice(INTERESTING_BYTES).decode("utf-8", "surrogateescape")
    elif edit == 1:
        rows.insert(rng.randrange(len(rows) + 1), list(row))
    elif edit == 2:
        rows.remove(row)
    else:
        row.append(rng.choice(["", "1", "x"]))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode("utf-8", "surrogateescape")


def mutations(seeds: Sequence[bytes], rng: random.Random, count: int, kind: str = "bytes") -> Iterator[bytes]:
    """``count`` mutated inputs from ``seeds``; ``kind`` ``json`` or ``csv`` mixes in the
    structured edits (half of the cases), ``bytes`` uses byte-level edits only."""
    structured = {"json": mutate_json, "csv": mutate_csv}.get(kind)
    for _ in range(count):
        data = rng.choice(seeds)
        if structured is not None and rng.random() < 0.5:
            yield structured(data, rng)
        else:
            yield mutate_bytes(data, rng)
