"""The same program and inputs give byte-identical results in processes with different hash
seeds: gas, return value, writes, events and error strings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import sys
from chain import codec, keys
from chain.state import MemoryBackend, State, WriteBuffer
from vm import CallContext, compile_source, execute

SOURCE = """
NAMES = ("zeta", "alpha", "mu", "beta", "kappa")

@public
def run(seed: int) -> dict:
    d = {}
    for i in range(40):
        k = NAMES[i % 5] + str((i * seed) % 13)
        d[k] = d.get(k, 0) + i
        storage_set("acct/" + k, d[k])
    keys = []
    for k in d:
        keys.append(k)
    page = storage_keys("acct/", "", 7)
    storage_delete("acct/" + keys[0])
    emit("summary", {"n": len(d), "first": keys[0], "sorted": sorted(keys)[:3], "tags": {"b": 1, "a": 2}})
    return {"order": keys, "page": page, "bytes": canonical_bytes(d), "hash": sha256(b"x"), "rest": storage_keys("acct/", page[-1], 5)}

@public
def fail(seed: int) -> None:
    d = {"a": 1}
    require(seed < 0, f"seed {seed} not negative, have {list(d)}")
"""


compiled = compile_source(SOURCE)
state = WriteBuffer(State.at(MemoryBackend()))
state.apply({keys.code_key("d"): codec.encode([compiled.code, compiled.source_hash, 1, bytes(32)])})
for i in range(5):
    state.apply({keys.storage_key("d", f"acct/pre{i}"): codec.encode(i)})
ctx = CallContext(bytes(32), bytes(32), 7, 1_700_000_000, "det")
out = []
for fn in ("run", "fail"):
    r = execute(state, ctx, "d", fn, [7], 1_000_000)
    writes = sorted(r.writes.items(), key=lambda kv: kv[0])
    events = [[e.contract, e.name, e.fields] for e in r.events]
    out.append([r.success, r.gas_used, codec.encode(r.return_value), writes, events, r.error])
sys.stdout.write(compiled.code.hex() + "\n" + codec.encode(out).hex() + "\n")
'''


def _run(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_results_are_identical_across_hash_seeds() -> None:
    first = _run("1")
    second = _run("4242")
    assert first == second
    assert len(first.splitlines()) == 2
