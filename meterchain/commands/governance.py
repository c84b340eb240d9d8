"""``meterchain governance``: a utility's operator runs the chain's governance from its
validator's home (docs/consensus.md, "Governance by the validators").

The writing commands sign with the validator key of ``--home`` (the key its node votes
with: only a validator of the current set may propose or approve) and wait until the
transaction is final; a refusal prints the contract's reason. The reading commands need only
a node's API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from chain.signatures import keypair_from_seed
from chain.types import PublicKey
from meterchain.commands.transact import events, run_against, send_calls
from meterchain.failure import fail
from node.config import ConfigError, load_config
from wallet.node_client import NodeClient

app = typer.Typer(no_args_is_help=True)

HomeOpt = typer.Option(..., "--home", help="the validator's node home (its validator key signs)")
NodeOpt = typer.Option(..., "--node", envvar="METERCHAIN_NODE", help="a node's API, e.g. http://127.0.0.1:26657")
JsonOpt = typer.Option(False, "--json", help="print JSON")
PAGE = 100  # the contract's page limit


def _validator(home: Path) -> tuple[bytes, PublicKey]:
    try:
        config = load_config(home)
    except ConfigError as exc:
        fail(str(exc))
    if config.validator_seed is None:
        fail(f"{home}: a validator's home expected (node.validator_key_file), found a {config.role}'s")
    return config.validator_seed, keypair_from_seed(config.validator_seed)[1]


def _pairs(items: list[str], what: str) -> list[tuple[str, int]]:
    """``NAME=INTEGER`` arguments."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"{what}: NAME=INTEGER expected, found {item!r}", 2)
        try:
            out.append((name, int(value)))
        except ValueError:
            fail(f"{what}: an integer after '=' expected, found {item!r}", 2)
    return out


def _key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        fail(f"a validator public key of 64 hex digits expected, found {text!r}", 2)
    return key


def _propose(home: Path, node: str, function: str, args: list[Any]) -> None:
    seed, account = _validator(home)

    async def work(client: NodeClient) -> str:
        (result,) = await send_calls(client, seed, account, [("governance", function, args)])
        names = dict(events(result))
        opened = names.get("proposal_opened", {})
        line = f"proposal {opened.get('id')} opened at height {result.height}"
        decided = names.get("proposal_decided")
        if decided is not None:
            line += f"; decided (effective at height {decided.get('effective_height')})"
        return line

    typer.echo(run_against(node, work))


def _show(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {_show(k): _show(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_show(v) for v in value]
    return value


@app.command("proposals")
def proposals(node: str = NodeOpt, as_json: bool = JsonOpt) -> None:
    """Every proposal: its kind, subject, approvals and status (open, decided, expired, withdrawn)."""

    async def work(client: NodeClient) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = await client.call("governance", "proposals", [out[-1]["id"] if out else 0, PAGE])
            out.extend(page)
            if len(page) < PAGE:
                return out

    found = [_show(p) for p in run_against(node, work)]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for p in found:
        typer.echo(
            f"{p['id']:>4}  {p['kind']:<10} {p['status']:<9} opened {p['opened_at']}, expires {p['expires_at']}, "
            f"{len(p['approvals'])} approvals  {json.dumps(p['subject'])}"
        )


@app.command("validators")
def validators(
    node: str = NodeOpt,
    height: int = typer.Option(None, "--height", help="the height whose set to show (default: the next block's)"),
    as_json: bool = JsonOpt,
) -> None:
    """The validator set of a height: public keys and powers."""

    async def work(client: NodeClient) -> tuple[int, list[dict[str, Any]]]:
        at = height if height is not None else (await client.status()).height + 1
        return at, list(await client.call("governance", "validator_set", [at]))

    at, rows = run_against(node, work)
    shown = [_show(r) for r in rows]
    if as_json:
        typer.echo(json.dumps({"height": at, "validators": shown}, indent=2))
        return
    typer.echo(f"validators of height {at}:")
    for r in shown:
        typer.echo(f"  {r['public_key']}  power {r['power']}")


@app.command("parameters")
def parameters(node: str = NodeOpt, as_json: bool = JsonOpt) -> None:
    """The chain parameters' current values."""
    values = run_against(node, lambda client: client.call("governance", "parameters", []))
    if as_json:
        typer.echo(json.dumps(values, indent=2))
        return
    for name in sorted(values):
        typer.echo(f"{name} = {values[name]}")


@app.command("propose-validators")
def propose_validators(
    changes: list[str] = typer.Argument(..., help="PUBLIC_KEY_HEX=POWER ...; power 0 removes a validator"),
    home: Path = HomeOpt,
    node: str = NodeOpt,
) -> None:
    """Propose a change of the validator set (add, remove, change power; a key rotation is the
    old key at 0 and the new one at its power)."""
    pairs = [[_key(key), power] for key, power in _pairs(changes, "change")]
    _propose(home, node, "propose_validators", [pairs])


@app.command("propose-contract")
def propose_contract(
    name: str = typer.Argument(..., help="the contract's name"),
    kind: str = typer.Argument(..., help="deploy or upgrade"),
    code_hash: str = typer.Argument(..., help="the code hash (meterchain contract compile FILE --json)"),
    home: Path = HomeOpt,
    node: str = NodeOpt,
) -> None:
    """Propose to approve one deploy or upgrade of a contract's code."""
    try:
        digest = bytes.fromhex(code_hash)
    except ValueError:
        fail(f"code hash: 64 hex digits expected, found {code_hash!r}", 2)
    _propose(home, node, "propose_contract", [name, kind, digest])


@app.command("propose-parameters")
def propose_parameters(
    changes: list[str] = typer.Argument(..., help="NAME=VALUE ... (see `meterchain governance parameters`)"),
    home: Path = HomeOpt,
    node: str = NodeOpt,
) -> None:
    """Propose new values of chain parameters."""
    _propose(home, node, "propose_parameters", [dict(_pairs(changes, "parameter"))])


DONE = {"approve": "approved", "withdraw": "withdrawn"}


def _decide(home: Path, node: str, function: str, proposal_id: int) -> None:
    seed, account = _validator(home)

    async def work(client: NodeClient) -> str:
        (result,) = await send_calls(client, seed, account, [("governance", function, [proposal_id])])
        proposal = await client.call("governance", "proposal", [proposal_id])
        line = f"proposal {proposal_id} {DONE[function]} at height {result.height}: status {proposal['status']}"
        if proposal["effective_height"] is not None:
            line += f", effective at height {proposal['effective_height']}"
        return line

    typer.echo(run_against(node, work))


@app.command("approve")
def approve(
    proposal_id: int = typer.Argument(..., help="the proposal's id"), home: Path = HomeOpt, node: str = NodeOpt
) -> None:
    """Approve an open proposal (once per validator)."""
    _decide(home, node, "approve", proposal_id)


@app.command("withdraw")
def withdraw(
    proposal_id: int = typer.Argument(..., help="the proposal's id"), home: Path = HomeOpt, node: str = NodeOpt
) -> None:
    """Withdraw an open proposal of yours."""
    _decide(home, node, "withdraw", proposal_id)
