"""The pure core never imports the layers with I/O (DESIGN.md: import only downwards)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "chain",
    "vm",
    "contracts",
    "consensus",
    "node",
    "wallet",
    "meter_adapters",
    "utility_services",
    "meterchain",
]
PURE = ["chain", "vm", "consensus", "contracts"]
EDGES = {"node", "wallet", "meter_adapters", "utility_services", "meterchain"}
# contracts/ holds contract sources (VM programs, read as text and checked by the contract
# compiler, never imported as Python) and these host modules, which are Python like any other.
CONTRACT_HOST_MODULES = {"__init__.py", "genesis.py"}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def python_modules(package: str) -> list[Path]:
    """The package's modules that run as Python (contract sources are VM programs)."""
    folder = ROOT / package
    modules = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    if package == "contracts":
        return [p for p in modules if p.parent == folder and p.name in CONTRACT_HOST_MODULES]
    return modules


@pytest.mark.parametrize("package", PURE)
def test_pure_core_does_not_import_io_layers(package: str) -> None:
    offenders = []
    for path in python_modules(package):
        bad = imported_top_levels(path) & EDGES
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "pure core must not import I/O layers:\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", ORDER)
def test_imports_only_go_downwards(package: str) -> None:
    above = set(ORDER[ORDER.index(package) + 1 :])
    offenders = []
    for path in python_modules(package):
        bad = imported_top_levels(path) & above
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "imports must go downwards only:\n" + "\n".join(offenders)


def test_layering_check_detects_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import node.api\nfrom wallet.keys import x\nfrom . import sibling\n")
    assert imported_top_levels(module) == {"node", "wallet"}


def test_contracts_holds_only_contract_sources_and_genesis() -> None:
    """Every file in contracts/ but the host modules is a contract source or a module one
    imports: it compiles into a genesis contract (so no host code hides among the sources)."""
    from contracts.genesis import compile_contracts

    folder = ROOT / "contracts"
    compiled = compile_contracts(("registry", "supply", "billing", "payments", "governance"))
    sources = {f"{name}.py" for name in compiled}
    for contract in compiled.values():
        sources.update(module.name.replace(".", "/") + ".py" for module in contract.modules)
    files = {
        str(p.relative_to(folder)) for p in folder.rglob("*.py") if "__pycache__" not in p.parts
    }
    assert files - CONTRACT_HOST_MODULES == sources, (
        f"contracts/ expected to hold contract sources and {sorted(CONTRACT_HOST_MODULES)}, "
        f"found also {sorted(files - CONTRACT_HOST_MODULES - sources)}"
    )
