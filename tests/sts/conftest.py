"""Shared fixtures of the STS tests: the published compliance tokens, read from the shared folder.

The vector file is AGPL-3.0 and is never copied into the repository: it is read from
<repo root>/../shared/fixtures/sts/, and the tests that need it skip with the reason if absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTOR_FILE = REPO_ROOT.parent / "shared" / "fixtures" / "sts" / "sts_tokens_verified.json"


@pytest.fixture(scope="session")
def sts_vectors() -> list[dict[str, Any]]:
    if not VECTOR_FILE.is_file():
        pytest.skip(f"STS compliance vectors not found at {VECTOR_FILE} (shared folder absent)")
    vectors: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text())["vectors"]
    return vectors
