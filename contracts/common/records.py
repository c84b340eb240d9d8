"""Records kept in storage as dicts: copying one, and the scopes a record belongs to.

A contract module (docs/contract-language.md, "Modules").
"""


def copy(record: dict) -> dict:
    """A shallow copy, so that the old record can still be counted out after a change."""
    out = {}
    for key in record.keys():
        out[key] = record[key]
    return out


def scopes_of(record: dict) -> list:
    """The utility, branch and field of a meter or subscription record, widest first."""
    return [record["utility"], record["branch"], record["field"]]
