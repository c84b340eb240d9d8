"""What a consensus engine (``node.engine``) knows of its peers' heights, and how often it
may ask a peer for a height's commit or answer one.

A peer's message for height h says it stored every height below h. A node behind its peers
asks one of them for its working height's ``commit`` (or starts block sync when far behind),
and answers a lagging peer with the ``commit`` of the peer's height; both at most once per
``REQUEST_SPACING`` per peer and height, so a burst of a lagging peer's votes is one answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

REQUEST_SPACING: Final = 0.5  # seconds between two requests (or answers) of one height to one peer


class PeerHeights:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._heights: dict[bytes, int] = {}  # the highest height each peer was seen working on
        self._spacing: dict[tuple[str, bytes, int], float] = {}  # (what, peer, height) -> last time

    def saw(self, peer: bytes, height: int) -> None:
        """``peer`` works on ``height``."""
        if height > self._heights.get(peer, 0):
            self._heights[peer] = height

    def ahead_of(self, height: int) -> list[tuple[int, bytes]]:
        """(height, peer) of the peers working above ``height``."""
        return [(h, peer) for peer, h in self._heights.items() if h > height]

    def spaced(self, what: str, peer: bytes, height: int) -> bool:
        """Whether enough time passed since the last ``what`` of ``height`` with ``peer``
        (and if so, this one is counted as done now)."""
        now = self._now()
        key = (what, peer, height)
        last = self._spacing.get(key)
        if last is not None and now - last < REQUEST_SPACING:
            return False
        self._spacing[key] = now
        return True

    def committed(self, height: int) -> None:
        """``height`` is stored here: its requests and answers are no longer spaced."""
        self._spacing = {k: t for k, t in self._spacing.items() if k[2] > height}
