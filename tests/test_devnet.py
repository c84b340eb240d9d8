"""`meterchain devnet up/down`: separate node processes started from their homes, described
in devnet.json, stopped by `down` (detached) or by Ctrl-C (attached, with its live line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from meterchain.cli import app
from meterchain.devnet import is_node_process
from node import pidfile
from node.testnet import write_network
from tests.node.processes import ROOT, node_ports


def test_devnet_up_detached_writes_devnet_json_and_down_stops_every_node(tmp_path: Path) -> None:
    write_network(tmp_path, 2, 1, node_ports(3))
    runner = CliRunner()
    pids: list[int] = []
    try:
        result = runner.invoke(app, ["devnet", "up", "--home", str(tmp_path), "--detach"])
        assert result.exit_code == 0, result.output
        described = json.loads((tmp_path / "devnet.json").read_text())["nodes"]
        pids = [n["pid"] for n in described]
        assert [(n["name"], n["role"]) for n in described] == [
            ("validator-1", "validator"), ("validator-2", "validator"), ("regulator-1", "regulator"),
        ]  # fmt: skip
        assert all(is_node_process(n["pid"], n["home"]) for n in described)
        assert all(set(n) == {"name", "role", "api", "home", "pid"} for n in described)
        again = runner.invoke(app, ["devnet", "up", "--home", str(tmp_path), "--detach"])
        assert again.exit_code == 1 and "no running devnet" in again.output
        result = runner.invoke(app, ["devnet", "down", "--home", str(tmp_path)])
        assert result.exit_code == 0 and "stopped 3 nodes" in result.output, result.output
        assert not any(is_node_process(n["pid"], n["home"]) for n in described)
        assert not (tmp_path / "devnet.json").exists()
        assert "stopped (SIGTERM)" in (tmp_path / "validator-1" / "node.log").read_text()
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_devnet_up_attached_prints_live_lines_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    write_network(tmp_path, 2, 0, node_ports(2))
    # Started with SIGINT ignored, as a non-interactive shell starts a background job: the
    # devnet's own handler still stops everything on SIGINT (Ctrl-C).
    process = subprocess.Popen(
        [sys.executable, "-c", "from meterchain.cli import main; main()", "devnet", "up", "--home", str(tmp_path), "--interval", "0.2", "--households", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ignore_sigint,
    )  # fmt: skip
    described: list[dict[str, object]] = []
    try:
        assert process.stdout is not None
        output = []
        deadline = time.monotonic() + 60
        for line in process.stdout:
            output.append(line)
            if line.startswith("height "):
                break
            assert time.monotonic() < deadline, "".join(output)
        assert "finalized" in output[-1] and "nodes up 2/2" in output[-1], "".join(output)
        described = json.loads((tmp_path / "devnet.json").read_text())["nodes"]
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, "".join(output) + rest
        assert "stopped 2 nodes" in rest
        assert not any(is_node_process(int(str(n["pid"])), str(n["home"])) for n in described)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for n in described:
            try:
                os.kill(int(str(n["pid"])), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_finality_quantiles_come_from_the_histogram_buckets_of_the_last_interval() -> None:
    from meterchain.devnet import finality_buckets, quantile

    text = "\n".join(
        f'meterchain_finality_seconds_bucket{{le="{le}"}} {n}'
        for le, n in [("0.5", 40.0), ("1.0", 98.0), ("2.0", 100.0), ("+Inf", 100.0)]
    ) + "\nmeterchain_finality_seconds_count 100.0\nmeterchain_finality_seconds_sum 60.0\n"
    text = "# TYPE meterchain_finality_seconds histogram\n" + text
    buckets = finality_buckets(text)
    assert buckets == {0.5: 40.0, 1.0: 98.0, 2.0: 100.0, float("inf"): 100.0}
    assert (quantile(buckets, 0.5), quantile(buckets, 0.99)) == (1.0, 2.0)
    assert quantile({b: 0.0 for b in buckets}, 0.5) is None


def test_devnet_down_stops_a_validator_restarted_by_hand_with_node_run(tmp_path: Path) -> None:
    """A node restarted with `meterchain node run --home HOME` (a relative HOME here) has a
    pid devnet.json does not know; `devnet down` finds it through HOME/node.pid."""
    write_network(tmp_path, 2, 0, node_ports(2))
    runner = CliRunner()
    pids: list[int] = []
    restarted: subprocess.Popen[bytes] | None = None
    try:
        result = runner.invoke(app, ["devnet", "up", "--home", str(tmp_path), "--detach"])
        assert result.exit_code == 0, result.output
        described = json.loads((tmp_path / "devnet.json").read_text())["nodes"]
        pids = [n["pid"] for n in described]
        home = tmp_path / "validator-2"
        deadline = time.monotonic() + 60
        while pidfile.running(home) != described[1]["pid"]:  # written once the node holds its store
            assert time.monotonic() < deadline, "validator-2 never wrote node.pid"
            time.sleep(0.05)
        os.kill(described[1]["pid"], signal.SIGKILL)
        while pidfile.running(home) is not None:  # the stale record is recognised as stale
            assert time.monotonic() < deadline, "a killed node's node.pid still taken as running"
            time.sleep(0.05)
        with (home / "node.log").open("ab") as log:
            restarted = subprocess.Popen(
                [sys.executable, "-c", "from meterchain.cli import main; main()", "node", "run", "--home", "validator-2"],
                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        while pidfile.running(home) != restarted.pid:
            assert restarted.poll() is None, (home / "node.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the restarted node never wrote node.pid"
            time.sleep(0.05)

        result = runner.invoke(app, ["devnet", "down", "--home", str(tmp_path)])

        assert result.exit_code == 0 and "stopped 2 nodes" in result.output, result.output
        assert restarted.wait(timeout=30) is not None
        assert (home / "node.log").read_text().count("stopped (SIGTERM)") == 1  # the restarted one, gracefully
        assert not (home / "node.pid").exists()
    finally:
        if restarted is not None and restarted.poll() is None:
            restarted.kill()
            restarted.wait()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
