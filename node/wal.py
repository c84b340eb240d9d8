"""The consensus write-ahead log: every event before ``step`` sees it, replayed after a crash.

An append-only file (docs/storage.md says why not LevelDB: the log is written on every
message and read only at start-up, in order; a file append is the cheapest write there is,
and an fsync of one file is exactly the durability point we need, no more). Each record is

    CRC32 (4 bytes, big-endian) | length (4 bytes, big-endian) | kind (1 byte) | body

where the CRC covers length, kind and body, and ``kind`` is ``MESSAGE`` (the body is the
event's canonical bytes, ``consensus.event_codec``) or ``END_HEIGHT`` (the body is the
8-byte height whose block is committed: CometBFT's ``#ENDHEIGHT``).

Durability follows CometBFT's rules (notes/CONSENSUS.md section 3): ``write`` buffers
(peer messages, timeouts), ``write_sync`` and ``flush_and_sync`` fsync (before each own
signature, so replay rebuilds the identical message), ``end_height`` is synced after the
block store has committed the height.

A crash can leave a torn record at the end. ``open`` reads every record, and at the first
one that is short or fails its CRC it copies the file to ``<name>.CORRUPTED`` and cuts the
log back to the records before it (CometBFT does the same on ``DataCorruptionError``).
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Final

from chain import codec
from node.durable import fsync_directory, write_atomically

MESSAGE: Final = 0
END_HEIGHT: Final = 1
_HEADER: Final = struct.Struct(">II")  # crc, length of kind + body
MAX_RECORD_SIZE: Final = codec.MAX_ENCODED_SIZE + 1
CHECKPOINT_SIZE: Final = 64 * 1024 * 1024  # past this, end_height starts the file anew
WAL_FILE: Final = "wal"


class WALError(Exception):
    """The log and the block store disagree on which heights are done."""


def frame(kind: int, body: bytes) -> bytes:
    payload = bytes([kind]) + body
    length = len(payload)
    if length > MAX_RECORD_SIZE:
        raise ValueError(f"a record of at most {MAX_RECORD_SIZE} bytes expected, found {length}")
    crc = zlib.crc32(length.to_bytes(4, "big") + payload)
    return _HEADER.pack(crc, length) + payload


def read_records(data: bytes) -> tuple[list[tuple[int, int, bytes]], int]:
    """The good records of ``data`` as (offset after the record, kind, body), and the length
    of the good prefix: reading stops at the first short, oversized or corrupt record."""
    records: list[tuple[int, int, bytes]] = []
    offset = 0
    end = len(data)
    while offset + _HEADER.size <= end:
        crc, length = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        if not 1 <= length <= MAX_RECORD_SIZE or start + length > end:
            break
        payload = data[start : start + length]
        if zlib.crc32(length.to_bytes(4, "big") + payload) != crc:
            break
        kind, body = payload[0], payload[1:]
        if kind not in (MESSAGE, END_HEIGHT) or (kind == END_HEIGHT and len(body) != 8):
            break
        offset = start + length
        records.append((offset, kind, body))
    return records, offset


class WriteAheadLog:
    """The log file ``<directory>/wal``; ``open`` it, ``replay_height`` at start-up, then
    ``write`` / ``write_sync`` events and ``end_height`` after each committed block."""

    def __init__(
        self, path: Path, file: BinaryIO, last_end: int | None, last_end_offset: int, repaired: Path | None
    ) -> None:
        self.path = path
        self.checkpoint_size = CHECKPOINT_SIZE
        self._file = file
        self._last_end = last_end  # the height of the last END_HEIGHT marker
        self._last_end_offset = last_end_offset  # where the records after it begin
        self.repaired = repaired  # the copy of a corrupt log set aside by ``open``, if any

    @classmethod
    def open(cls, directory: Path, checkpoint_size: int = CHECKPOINT_SIZE) -> WriteAheadLog:
        """Open (or create) the log, cutting a torn or corrupt tail (the original is kept as
        ``wal.CORRUPTED``). A new log starts with the marker of height 0."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / WAL_FILE
        if not path.exists():
            write_atomically(path, frame(END_HEIGHT, (0).to_bytes(8, "big")), 0o644)
        data = path.read_bytes()
        records, good = read_records(data)
        repaired = None
        if good != len(data):
            repaired = path.with_name(WAL_FILE + ".CORRUPTED")
            shutil.copyfile(path, repaired)
            with open(repaired, "rb+") as copy:
                os.fsync(copy.fileno())
            os.truncate(path, good)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_directory(directory)
        last_end, last_end_offset = None, 0
        for offset, kind, body in records:
            if kind == END_HEIGHT:
                last_end, last_end_offset = int.from_bytes(body, "big"), offset
        log = cls(path, open(path, "ab"), last_end, last_end_offset, repaired)
        log.checkpoint_size = checkpoint_size
        return log

    def close(self) -> None:
        self.flush_and_sync()
        self._file.close()

    # --- start-up ----------------------------------------------------------------------

    def replay_height(self, height: int) -> list[bytes]:
        """The events logged for ``height`` (those after the marker of ``height - 1``), to
        feed through ``step`` again. If the log has no such marker (a crash between the
        block store's commit and the marker, or blocks fetched by sync), nothing of
        ``height`` was logged: the marker is written now, so what follows belongs to it.
        Raises ``WALError`` if the log already ended ``height`` or a later one."""
        self.flush_and_sync()
        if self._last_end is not None and self._last_end >= height:
            raise WALError(
                f"a log ending at most at height {height - 1} expected (the block store's head), "
                f"found its end-of-height marker for {self._last_end}"
            )
        if self._last_end != height - 1:
            self.end_height(height - 1)
            return []
        with open(self.path, "rb") as log:
            log.seek(self._last_end_offset)
            records, _ = read_records(log.read())
        return [body for _, kind, body in records if kind == MESSAGE]

    # --- writing -----------------------------------------------------------------------

    def write(self, event: bytes) -> None:
        """Append an event, buffered: a crash may lose it (peer messages, timeouts)."""
        self._file.write(frame(MESSAGE, event))

    def write_sync(self, event: bytes) -> None:
        """Append an event and fsync: on disk when this returns (our own messages)."""
        self._file.write(frame(MESSAGE, event))
        self.flush_and_sync()

    def flush_and_sync(self) -> None:
        """Everything written so far is on disk when this returns (call before signing)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def end_height(self, height: int) -> None:
        """Mark ``height`` done (after the block store committed it), synced. A log grown
        past ``checkpoint_size`` is replaced by the marker alone: nothing before it is
        needed again."""
        marker = frame(END_HEIGHT, height.to_bytes(8, "big"))
        if self._file.tell() >= self.checkpoint_size:
            self._file.close()
            write_atomically(self.path, marker, 0o644)
            self._file = open(self.path, "ab")
        else:
            self._file.write(marker)
            self.flush_and_sync()
        self._last_end, self._last_end_offset = height, self._file.tell()
