"""How the contracts build their storage keys: the layout rule, written once.

A key is a kind, then its parts: ``ms/<meter>``, ``inv/<meter>/<seq>``, ``pay:<payment id>``.
The kind ends with its separator and the parts are joined by that same separator. Registry,
supply and billing separate with "/", payments with ":": both stay, because a key's bytes
are where its value lives in the state of a running chain (another separator would be other
keys). A part that is a scope id, which nests with "/" (``ELEC/CENTRE/F1``), is closed with
"#" before a day or a name (``tot/<scope>#<day>``): "#" never occurs in ids, so a scan of
``tot/ELEC#`` never reaches the keys of the nested scope ``ELEC/CENTRE``. docs/contracts.md
("Storage keys") lists every kind.

A contract module (docs/contract-language.md, "Modules").
"""


def storage_key(kind: str, parts: list) -> str:
    """``kind`` followed by ``parts`` joined by the kind's separator, its last character:
    ``storage_key("rd/", [meter, time])`` is ``"rd/<meter>/<time>"``. An empty last part
    gives the prefix that lists a group: ``storage_key("ix/", [scope, ""])`` is ``"ix/<scope>/"``."""
    separator = kind[len(kind) - 1:]
    return kind + separator.join(parts)


def scope_key(kind: str, scope: str, suffix: str) -> str:
    """``<kind><scope>#<suffix>``: a record per scope and day or name (an empty suffix gives
    the prefix of the scope's records)."""
    return kind + scope + "#" + suffix
