"""The utility contracts, written in the VM's Python subset (see docs/contract-language.md).

The ``*.py`` files beside this one are contract *sources*: they are read as text, compiled
by ``vm`` and deployed in genesis; they are never imported as Python modules.
"""

from __future__ import annotations

from importlib import resources


def contract_source(name: str) -> str:
    """The source text of the contract ``name`` shipped with this package."""
    return resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")
