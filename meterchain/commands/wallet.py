"""``meterchain wallet``: a consumer's wallet on the command line, against a node's API.

A consumer holds one key (``wallet new``), subscribes to the meter of their home with no
paperwork (``subscribe``), reads the meter themselves and submits the reading
(``submit``: the same adapters as ``meterchain read``, from a capture file or the meter's
port), sees what they owe and their prepaid credit (``account``), and tops up with a
voucher bought at a shop (``redeem``: the code never leaves the wallet, only a signature
made with the voucher's key). Every transaction is waited on until it is final, and a
refusal prints the contract's reason.

The node (``--node`` or ``METERCHAIN_NODE``) is any validator's or regulator's API; the key
file (``--key`` or ``METERCHAIN_WALLET_KEY``) is created by ``new`` with mode 600.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final

import typer

from chain.accounts import from_text, to_text
from chain.errors import InvalidAddress
from chain.types import Height, Nonce, PublicKey
from meter_adapters.errors import AdapterError
from meter_adapters.reading import Reading
from meter_adapters.registers import register_reading
from meterchain.commands.read import FORMATS, adapter_for
from meterchain.commands.transact import events, run_against, send_calls, submit_and_wait
from meterchain.failure import fail
from wallet import keyfile
from wallet.node_client import EXPIRY_WINDOW, NodeClient
from wallet.reading_transactions import TxParams, reading_transaction
from wallet.vouchers import sign_redemption

app = typer.Typer(no_args_is_help=True)

DEFAULT_KEY: Final = Path.home() / ".meterchain" / "wallet_key"
DEFAULT_REGISTER: Final = "1-0:1.8.0"  # electricity import, total of all tariffs

KeyOpt = typer.Option(DEFAULT_KEY, "--key", envvar="METERCHAIN_WALLET_KEY", help="the wallet's key file")
NodeOpt = typer.Option(..., "--node", envvar="METERCHAIN_NODE", help="a node's API, e.g. http://127.0.0.1:26657")


def _load_key(path: Path) -> tuple[bytes, PublicKey]:
    try:
        return keyfile.load(path)
    except keyfile.KeyFileError as exc:
        fail(str(exc))


@app.command("new")
def new(key: Path = KeyOpt) -> None:
    """Create the wallet's key (never overwrites one) and print its account."""
    try:
        _, account = keyfile.create(key)
    except keyfile.KeyFileError as exc:
        fail(str(exc))
    typer.echo(f"account {to_text(account)}\npublic key {account.hex()}\nkey file {key} (mode 600: keep a copy)")


@app.command("address")
def address(key: Path = KeyOpt) -> None:
    """Print the wallet's account, as text and as its public key."""
    _, account = _load_key(key)
    typer.echo(f"account {to_text(account)}\npublic key {account.hex()}")


@app.command("subscribe")
def subscribe(
    meter: str = typer.Argument(..., help="the meter's id, as printed on it or read from its port"),
    mode: str = typer.Option("postpaid", "--mode", help="postpaid (invoices) or prepaid (credit)"),
    identity: str = typer.Option(
        None, "--identity", help="your identity record, where the utility requires one: only its hash goes on chain"
    ),
    node: str = NodeOpt,
    key: Path = KeyOpt,
) -> None:
    """Subscribe to a meter (the utility approves, or approval is automatic)."""
    if mode not in ("postpaid", "prepaid"):
        fail(f"--mode postpaid or prepaid expected, found {mode!r}", 2)
    seed, account = _load_key(key)
    identity_hash = b"" if identity is None else hashlib.sha256(identity.encode("utf-8")).digest()

    async def work(client: NodeClient) -> str:
        (result,) = await send_calls(client, seed, account, [("registry", "subscribe", [meter, mode, identity_hash])])
        record = await client.call("registry", "subscription", [meter])
        return f"subscribed to meter {meter} ({mode}) at height {result.height}: status {record['status']}"

    typer.echo(run_against(node, work))


@app.command("submit")
def submit(
    meter: str = typer.Argument(..., help="the meter's id"),
    format: str = typer.Argument(..., help=f"the capture's protocol: {', '.join(FORMATS)}"),
    file: str = typer.Option(None, "--file", help="a capture file (binary formats: raw bytes or hex text)"),
    port: str = typer.Option(None, "--port", help="serial device or socket://host:port; reads one frame"),
    register: str = typer.Option(None, "--register", help="the billed register (default: the meter's, else 1-0:1.8.0)"),
    meter_key: str = typer.Option(None, "--meter-key", help="hex AES key (wmbus, dlms) or the meter's public key (nfc)"),
    node: str = NodeOpt,
    key: Path = KeyOpt,
) -> None:
    """Read the meter and submit its reading; a meter-signed NFC reading carries the meter's
    signature (trust "meter"), any other one is the consumer's own reading."""
    if format not in FORMATS:
        fail(f"FORMAT one of {', '.join(FORMATS)} expected, found {format!r}", 2)
    if (file is None) == (port is None):
        fail("exactly one of --file or --port expected", 2)
    key_bytes = None
    if meter_key is not None:
        try:
            key_bytes = bytes.fromhex(meter_key)
        except ValueError:
            fail(f"--meter-key: hex digits expected, found {meter_key!r}", 2)
    seed, account = _load_key(key)
    readings, signature = _readings(format, _capture(format, file, port), key_bytes)  # refused before any network

    async def work(client: NodeClient) -> str:
        status = await client.status()
        billed = register or await _meter_register(client, meter) or DEFAULT_REGISTER
        try:
            reading = register_reading(readings, billed)
        except AdapterError as exc:
            fail(f"{format} capture: {exc}")
        if reading.meter != meter:
            fail(f"a capture of meter {meter} expected, found one of meter {reading.meter}")
        if reading.timestamp is None:
            fail(f"a reading with the meter's time expected, found none in this {format} capture")
        params = TxParams(status.chain_id, seed, Nonce(await client.nonce(account)), Height(status.height + EXPIRY_WINDOW))
        tx = reading_transaction(
            params, meter, reading.register, reading.timestamp, reading.value, reading.raw_hash,
            trust="meter" if signature else "consumer", meter_signature=signature,
        )  # fmt: skip
        (result,) = await submit_and_wait(client, [tx])
        for name, fields in events(result):
            if name == "reading_rejected":
                fail(f"reading of meter {meter} rejected by the billing contract: {fields.get('reason', fields)}")
        return f"reading {reading.value} {reading.unit} of {meter} ({reading.register}) final at height {result.height}"

    typer.echo(run_against(node, work))


def _capture(format: str, file: str | None, port: str | None) -> bytes:
    from meter_adapters import serial_io

    try:
        if file is not None:
            return serial_io.read_input_file(file, format)
        assert port is not None
        return serial_io.read_port(port, format)
    except AdapterError as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:  # includes serial.SerialException
        fail(f"cannot read {file or port}: {exc}")


def _readings(format: str, data: bytes, key: bytes | None) -> tuple[list[Reading], bytes]:
    """The capture's readings, and the meter's signature when it signed its reading (NFC)."""
    try:
        if format == "nfc":
            from meter_adapters.signed_reading import parse_signed_reading

            signed, reading = parse_signed_reading(data, key)
            return [reading], signed.signature
        return adapter_for(format, key)(data), b""
    except ValueError as exc:  # AdapterError and the codec's DecodeError
        fail(f"{format} input rejected: {exc}")


async def _meter_register(client: NodeClient, meter: str) -> str | None:
    """The register the meter is billed on, once its first reading set it."""
    last = await client.call("billing", "last_reading", [meter])
    register = last.get("register") if isinstance(last, dict) else None
    return register if isinstance(register, str) and register else None


@app.command("account")
def account(
    meters: list[str] = typer.Argument(None, help="meters to show (default: every meter subscribed by this wallet)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    of: str = typer.Option(
        None, "--of", help="another account (mc1...) to look at, read-only: a household member's, a tenant's"
    ),
    node: str = NodeOpt,
    key: Path = KeyOpt,
) -> None:
    """What each subscription owes or has in credit, its open invoices and last reading."""
    if of is None:
        _, account = _load_key(key)
    else:
        try:
            account = from_text(of)
        except InvalidAddress as exc:
            fail(f"--of: {exc}", 2)

    async def work(client: NodeClient) -> list[dict[str, Any]]:
        chosen = meters or list(await client.call("registry", "subscriptions_of", [account]))
        out = []
        for meter in chosen:
            subscription = await client.call("registry", "subscription", [meter])
            if subscription is None or subscription.get("consumer") != account:
                fail(f"a subscription of {to_text(account)} on meter {meter} expected, found none")
            entry: dict[str, Any] = {"meter": meter, "mode": subscription["mode"], "status": subscription["status"]}
            entry["last_reading"] = await client.call("billing", "last_reading", [meter])
            if subscription["mode"] == "prepaid":
                entry["credit"] = await client.call("payments", "credit", [meter])
            else:
                entry["balance_due"] = await client.call("billing", "balance_due", [meter])
                entry["open_invoices"] = await client.call("billing", "open_invoices", [meter])
            out.append(entry)
        return out

    entries = run_against(node, work)
    if as_json:
        typer.echo(json.dumps(entries, indent=2, default=_json_default))
        return
    if not entries:
        typer.echo(f"no subscriptions for {to_text(account)}")
    for e in entries:
        money = f"credit {e['credit']}" if "credit" in e else f"due {e['balance_due']} ({len(e['open_invoices'])} open invoices)"
        last = e["last_reading"] or {}
        typer.echo(f"{e['meter']:<20} {e['mode']:<9} {e['status']:<9} {money:<36} last reading {last.get('index', '-')}")


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    raise TypeError(f"JSON-encodable value expected, found {type(value).__name__}")


@app.command("redeem")
def redeem(
    meter: str = typer.Argument(..., help="the prepaid meter to credit"),
    code: str = typer.Argument(..., help="the voucher's code, as printed"),
    node: str = NodeOpt,
    key: Path = KeyOpt,
) -> None:
    """Top up prepaid credit with a voucher: the code stays here; the chain sees only a
    signature by the voucher's key over this meter and this wallet's account."""
    seed, account = _load_key(key)
    try:
        voucher_key, signature = sign_redemption(code, meter, account)
    except ValueError as exc:
        fail(f"voucher code rejected: {exc}")

    async def work(client: NodeClient) -> str:
        before = await client.call("payments", "credit", [meter])
        (result,) = await send_calls(client, seed, account, [("payments", "redeem_voucher", [meter, voucher_key, signature])])
        after = await client.call("payments", "credit", [meter])
        return f"voucher redeemed on {meter} at height {result.height}: credit {before} -> {after}"

    typer.echo(run_against(node, work))
