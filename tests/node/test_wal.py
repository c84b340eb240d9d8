"""The consensus write-ahead log (node.wal): framing, replay from the last end-of-height
marker, and a torn or corrupt tail cut back to the good records with a copy set aside."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.wal import END_HEIGHT, MESSAGE, WAL_FILE, WALError, WriteAheadLog, frame, read_records


def test_basic_frame_layout() -> None:
    # CRC-32 (IEEE) of length + kind + body, then length, kind, body: the format, pinned.
    assert frame(MESSAGE, b"abc") == bytes.fromhex("5ac7e179") + bytes.fromhex("00000004") + b"\x00abc"
    records, good = read_records(frame(MESSAGE, b"abc") + frame(END_HEIGHT, (7).to_bytes(8, "big")))
    assert [(kind, body) for _, kind, body in records] == [(MESSAGE, b"abc"), (END_HEIGHT, (7).to_bytes(8, "big"))]
    assert good == 8 + 4 + 8 + 9


def test_basic_replay_returns_the_current_heights_events(tmp_path: Path) -> None:
    log = WriteAheadLog.open(tmp_path)
    assert log.replay_height(1) == []
    log.write(b"h1-peer-vote")
    log.write_sync(b"h1-own-vote")
    log.end_height(1)
    log.write(b"h2-a")
    log.write_sync(b"h2-b")
    log.close()
    reopened = WriteAheadLog.open(tmp_path)
    assert reopened.repaired is None
    assert reopened.replay_height(2) == [b"h2-a", b"h2-b"]


def test_basic_missing_marker_means_nothing_logged_for_the_height(tmp_path: Path) -> None:
    # Killed after the block store committed height 1 but before the marker: the events of
    # height 1 are not height 2's, and the marker written now makes later events height 2's.
    log = WriteAheadLog.open(tmp_path)
    log.write_sync(b"h1-own-vote")
    log.close()
    log = WriteAheadLog.open(tmp_path)
    assert log.replay_height(2) == []
    log.write_sync(b"h2-own-vote")
    log.close()
    assert WriteAheadLog.open(tmp_path).replay_height(2) == [b"h2-own-vote"]


def test_invalid_log_ahead_of_the_block_store(tmp_path: Path) -> None:
    log = WriteAheadLog.open(tmp_path)
    log.end_height(1)
    log.end_height(2)
    with pytest.raises(WALError, match="marker for 2"):
        log.replay_height(2)


def test_basic_checkpoint_keeps_the_file_small(tmp_path: Path) -> None:
    log = WriteAheadLog.open(tmp_path, checkpoint_size=200)
    for height in range(1, 20):
        for i in range(5):
            log.write(b"event %d/%d" % (height, i))
        log.end_height(height)
    log.write_sync(b"h20")
    assert (tmp_path / WAL_FILE).stat().st_size < 400
    log.close()
    assert WriteAheadLog.open(tmp_path).replay_height(20) == [b"h20"]


@settings(deadline=None, max_examples=30)
@given(cut=st.integers(min_value=1, max_value=40), flip=st.booleans())
def test_invalid_torn_or_corrupt_tail_is_cut_and_set_aside(tmp_path_factory: pytest.TempPathFactory, cut: int, flip: bool) -> None:
    directory = tmp_path_factory.mktemp("wal")
    log = WriteAheadLog.open(directory)
    log.end_height(4)
    log.write_sync(b"kept-1")
    log.write_sync(b"kept-2")
    log.write_sync(b"the last record, damaged by the crash")
    log.close()
    path = directory / WAL_FILE
    data = path.read_bytes()
    last = len(frame(MESSAGE, b"the last record, damaged by the crash"))
    if flip:  # a bit flipped inside the last record
        position = len(data) - last + min(cut, last - 1)
        damaged = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
    else:  # the last record torn: only part of it reached the disk
        damaged = data[: len(data) - min(cut, last)]
    path.write_bytes(damaged)
    reopened = WriteAheadLog.open(directory)
    assert reopened.repaired is not None and reopened.repaired.read_bytes() == damaged
    assert path.read_bytes() == data[: len(data) - last]
    assert reopened.replay_height(5) == [b"kept-1", b"kept-2"]
    reopened.write_sync(b"after repair")
    reopened.close()
    assert WriteAheadLog.open(directory).replay_height(5) == [b"kept-1", b"kept-2", b"after repair"]
