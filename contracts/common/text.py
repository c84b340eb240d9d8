"""Values as text: in storage keys (``pad``) and in error messages (``shape``, ``show``).

A contract module (docs/contract-language.md, "Modules"): compiled into the contracts that
import it, never imported as Python.
"""


ZEROS = "00000000000000000000"


def pad(n: int, width: int) -> str:
    """Zero-padded decimal, so that keys holding numbers sort by number (keys sort by bytes)."""
    s = str(n)
    missing = width - len(s)
    if missing <= 0:
        return s
    if missing <= len(ZEROS):
        return ZEROS[:missing] + s  # in one step: keys of every reading are padded
    while len(s) < width:
        s = "0" + s
    return s


def shape(value) -> str:
    """A short description of a bad argument for an error message: its type and, for a
    scalar, its value (f-strings format only int, str, bool and None)."""
    if isinstance(value, bytes):
        n = len(value)
        return f"{n} bytes"
    if isinstance(value, str):
        return "text '" + value + "'"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "the integer " + str(value)
    if value is None:
        return "None"
    if isinstance(value, list) or isinstance(value, tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict of {len(value)} entries"
    return "a value of another type"


def show(v) -> str:
    """Any value as text for an error message, nested values included (bytes in hex)."""
    if v is None or isinstance(v, int) or isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, bytes):
        return bytes_hex(v)
    parts = []
    if isinstance(v, dict):
        for k in v.keys():
            parts.append(show(k) + ": " + show(v[k]))
        return "{" + ", ".join(parts) + "}"
    for x in v:
        parts.append(show(x))
    return "[" + ", ".join(parts) + "]"
