"""`meterchain devnet up` / `down`: a network of separate node processes on this machine."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import aiohttp
import typer

from meterchain.devnet import (
    DEVNET_FILE,
    DevnetError,
    LiveView,
    RunningNode,
    node_homes,
    read_chain_id,
    read_devnet,
    start_network,
    stop_network,
    wait_serving,
)
from meterchain.failure import fail
from meterchain.households import HouseholdError, NetworkHouseholds
from node.testnet import GOVERNANCE_KEY_FILE, ports_from, write_network
from wallet.node_client import NodeError

app = typer.Typer(no_args_is_help=True)

DEFAULT_HOME = Path("devnet-data")


def _stop(directory: Path, nodes: list[RunningNode]) -> None:
    stopped = stop_network(nodes)
    (directory / DEVNET_FILE).unlink(missing_ok=True)
    typer.echo(f"stopped {len(stopped)} nodes" + (f": {', '.join(stopped)}" if stopped else ""))


async def _households(home: Path, nodes: list[RunningNode], count: int, interval: float, say: Callable[[str], None]) -> None:
    """The demonstration's households, through the validators' APIs, until cancelled."""
    validators = [n.api for n in nodes if n.role == "validator"]
    seed = bytes.fromhex((home / GOVERNANCE_KEY_FILE).read_text(encoding="utf-8").strip())
    households = NetworkHouseholds(validators, read_chain_id(home), seed, count, say, vacant_port=home / "meters")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            if await households.already_set_up(http):
                say("households: this chain's utility is already set up (a devnet started again); "
                    "the simulated households run on a new network only")
                return
            await households.set_up(http)
            while True:
                await asyncio.sleep(interval)
                await households.read_round(http)
        except (HouseholdError, NodeError, aiohttp.ClientError, TimeoutError) as exc:
            say(f"households stopped: {exc}")


async def _live(home: Path, nodes: list[RunningNode], interval: float, households: int, read_interval: float) -> None:
    view = LiveView(nodes)
    tty = sys.stdout.isatty()

    def say(line: str) -> None:
        typer.echo(("\n" if tty else "") + line)

    tasks = []
    if households:
        tasks.append(asyncio.create_task(_households(home, nodes, households, read_interval, say)))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                line = await view.line(http)
                if tty:
                    typer.echo("\r" + line.ljust(100), nl=False)
                else:
                    typer.echo(line)
                await asyncio.sleep(interval)
    finally:
        for task in tasks:
            task.cancel()
        # Awaited, so the households close their HTTP session before the loop closes.
        await asyncio.gather(*tasks, return_exceptions=True)


@app.command("up")
def up(
    validators: int = typer.Option(4, min=1, max=32, help="validators (when DIR has no node homes yet)"),
    regulators: int = typer.Option(1, min=0, max=8, help="regulators (when DIR has no node homes yet)"),
    home: Path = typer.Option(DEFAULT_HOME, "--home", help="the network's directory (node homes, devnet.json)"),
    base_port: int = typer.Option(27000, min=1024, max=65000, help="node i: API BASE+2i, p2p BASE+2i+1"),
    detach: bool = typer.Option(False, "--detach", help="leave the nodes running and return"),
    interval: float = typer.Option(1.0, min=0.1, help="seconds between live lines"),
    households: int = typer.Option(
        12, min=0, max=500, help="simulated households sending DSMR readings through the API (not with --detach)"
    ),
    read_interval: float = typer.Option(5.0, min=0.5, help="seconds between the households' reading rounds"),
) -> None:
    """Start the network in DIR (writing its node homes first if there are none); without
    --detach, run the simulated households (the demonstration's, through the validators'
    APIs) and print a live line until Ctrl-C, then stop every node."""
    if not node_homes(home):
        count = validators + regulators
        write_network(home, validators, regulators, ports_from(base_port, count))
        typer.echo(f"wrote {count} node homes in {home}")
    try:
        nodes = start_network(home)
    except DevnetError as exc:
        fail(str(exc))
    try:
        asyncio.run(wait_serving(nodes))
    except DevnetError as exc:
        stop_network(nodes)
        (home / DEVNET_FILE).unlink(missing_ok=True)
        fail(str(exc))
    typer.echo(f"devnet up: {len(nodes)} nodes ({home / DEVNET_FILE})")
    for node in nodes:
        typer.echo(f"  {node.name:<14} {node.role:<10} {node.api}  pid {node.pid}  log {node.home}/node.log")
    if detach:
        typer.echo(f"stop it with: meterchain devnet down --home {home}")
        return

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too, explicitly: a program started in the background by a non-interactive
    # shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGINT, on_terminate)
    typer.echo("Ctrl-C stops every node")
    try:
        asyncio.run(_live(home, nodes, interval, households, read_interval))
    except KeyboardInterrupt:
        typer.echo("")
    finally:
        _stop(home, nodes)


@app.command("down")
def down(home: Path = typer.Option(DEFAULT_HOME, "--home", help="the network's directory")) -> None:
    """Stop the nodes DIR/devnet.json lists (SIGTERM, then SIGKILL after 15 s)."""
    try:
        nodes = read_devnet(home)
    except DevnetError as exc:
        fail(str(exc))
    _stop(home, nodes)
