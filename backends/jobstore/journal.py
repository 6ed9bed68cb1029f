"""The on-disk framing of the job record journal, shared by stores that keep it as bytes.

A journal is a sequence of *frames*, one per ``append_records`` batch::

    frame   = MAGIC  length:u32le  crc:u32le  payload[length]
    payload = (size:u32le  record[size])*
    crc     = crc32(payload, crc32(length bytes))

A frame is whole or it is not there: one that is cut short, has a bad checksum, or whose
payload does not split exactly into records is not read. That is how a batch torn by a
crash (SIGKILL during a write, power loss without fsync) disappears as a unit instead of
leaving half a batch behind.

What comes after a bad frame: the reader looks for the next ``MAGIC`` whose frame checks
out and goes on from there, so a damaged frame in the middle costs only its own records.
``scan`` reports such a gap (its offset and length) to ``on_damage``; a bad frame with no
whole frame after it is a torn tail, dropped silently. A writer must cut the file back to
the end of the last whole frame (``valid_end``) before appending.

Older journals (store format 1) have frames without ``MAGIC`` (``length crc payload``);
they are still read, frame by frame, but cannot be resynchronised after damage. A frame
that starts with ``MAGIC`` is always read as a new one: as a legacy length, ``MAGIC`` would
announce a batch of almost 4 GiB, which no writer made.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO

MAGIC = b"\xd7MJ\xfe"
_HEADER = struct.Struct("<II")
_SIZE = struct.Struct("<I")
_MAX_PAYLOAD = 0xFFFF_FFFF
_CHUNK = 1 << 20
#: Compaction splits a long journal into frames of about this many bytes.
FRAME_TARGET = 16 << 20

#: ``on_damage(offset, length)``: bytes ``[offset, offset + length)`` held no whole frame.
DamageHandler = Callable[[int, int], None]


def encode_batch(records: Sequence[bytes]) -> bytes:
    """One frame holding ``records`` in order. Raises ValueError above 4 GiB."""
    parts: list[bytes] = [b""]
    pack = _SIZE.pack
    for record in records:
        parts.append(pack(len(record)))
        parts.append(record)
    payload = b"".join(parts)
    if len(payload) > _MAX_PAYLOAD:
        raise ValueError(f"a journal batch of {len(payload)} bytes exceeds the 4 GiB frame limit")
    length = _SIZE.pack(len(payload))
    return MAGIC + _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


def encode_many(records: Sequence[bytes]) -> bytes:
    """Frames of about FRAME_TARGET bytes holding all ``records`` (used for compaction)."""
    frames: list[bytes] = []
    start = size = 0
    for index, record in enumerate(records):
        size += len(record) + _SIZE.size
        if size >= FRAME_TARGET:
            frames.append(encode_batch(records[start : index + 1]))
            start, size = index + 1, 0
    if start < len(records):
        frames.append(encode_batch(records[start:]))
    return b"".join(frames)


def _split(payload: bytes) -> list[bytes] | None:
    """The records of a payload, or None if its sizes do not add up exactly."""
    records: list[bytes] = []
    offset, end = 0, len(payload)
    unpack = _SIZE.unpack_from
    while offset < end:
        if end - offset < _SIZE.size:
            return None
        (size,) = unpack(payload, offset)
        offset += _SIZE.size
        if size > end - offset:
            return None
        records.append(payload[offset : offset + size])
        offset += size
    return records


class _Reader:
    """Frames read from a stream of known size, seeking only when asked to go elsewhere."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.size = stream.seek(0, 2)
        stream.seek(0)
        self.position = 0

    def _read(self, offset: int, count: int) -> bytes:
        if self.position != offset:
            self.stream.seek(offset)
        data = self.stream.read(count)
        self.position = offset + len(data)
        return data

    def frame_at(self, offset: int) -> tuple[int, list[bytes]] | None:
        """``(end offset, records)`` of a whole frame at ``offset``, or None."""
        head = self._read(offset, 4 + _HEADER.size)
        start = 4 if head[:4] == MAGIC else 0
        header = head[start : start + _HEADER.size]
        if len(header) < _HEADER.size:
            return None
        length, crc = _HEADER.unpack(header)
        body = offset + start + _HEADER.size
        if length == 0 or length > self.size - body:  # zeros left by a crash, or garbage
            return None
        payload = self._read(body, length)  # a legacy frame seeks back over 4 bytes
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(header[:4])) != crc:
            return None
        records = _split(payload)
        return None if records is None else (body + length, records)

    def next_frame(self, start: int) -> int | None:
        """The offset of the first whole new-style frame at or after ``start``, or None."""
        while start < self.size:
            chunk = self._read(start, _CHUNK + len(MAGIC) - 1)
            found = chunk.find(MAGIC)
            if found < 0:
                start += max(len(chunk) - len(MAGIC) + 1, 1)
                continue
            if self.frame_at(start + found) is not None:
                return start + found
            start += found + 1
        return None


def scan(
    stream: IO[bytes], on_damage: DamageHandler | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(end offset, records)`` for each whole frame from the stream's start. A bad
    frame followed by whole ones is reported to ``on_damage`` and skipped; a bad tail is
    dropped silently (see the module docstring)."""
    reader = _Reader(stream)
    offset = 0
    while offset < reader.size:
        frame = reader.frame_at(offset)
        if frame is not None:
            offset = frame[0]
            yield frame
            continue
        resumed = reader.next_frame(offset + 1)
        if resumed is None:
            return  # a torn tail
        if on_damage is not None:
            on_damage(offset, resumed - offset)
        offset = resumed


def valid_end(stream: IO[bytes]) -> int:
    """The offset just past the last whole frame (0 for an empty or garbage stream)."""
    end = 0
    for end, _ in scan(stream):
        pass
    return end
