"""The utility contracts, written in the VM's Python subset (see docs/contract-language.md).

The ``*.py`` files beside this one are contract *sources*, and the folders hold the modules
they import (``from billing.tariffs import ...`` is ``billing/tariffs.py``): they are read
as text, compiled by ``vm`` and deployed in genesis; they are never imported as Python.
"""

from __future__ import annotations

from importlib import resources


def contract_source(name: str) -> str:
    """The source text of the contract ``name`` shipped with this package."""
    return resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def contract_module(name: str) -> str | None:
    """The source text of the contract module ``name`` (dotted, as a contract imports it)
    shipped with this package, or None when there is no such module."""
    path = resources.files(__package__).joinpath(*name.split(".")[:-1], name.split(".")[-1] + ".py")
    return path.read_text(encoding="utf-8") if path.is_file() else None
