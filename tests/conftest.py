"""Hypothesis profiles. ``ci`` (set by ``.ci/run``) draws the same examples on every run, so
whether a change lands depends on the change, not on the luck of one draw; every other run
(``make test`` here) draws anew and keeps looking for new counterexamples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
