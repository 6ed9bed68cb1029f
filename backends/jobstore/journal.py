"""The on-disk framing of the job record journal, shared by stores that keep it as bytes.

A journal is a sequence of *frames*, one per ``append_records`` batch::

    frame   = length:u32le  crc:u32le  payload[length]
    payload = (size:u32le  record[size])*
    crc     = crc32(payload, crc32(length bytes))

A frame is whole or it is not there: a reader stops at the first frame that is cut short,
has a bad checksum, or whose payload does not split exactly into records. That is how a
batch torn by a crash (SIGKILL during a write, power loss without fsync) disappears as a
unit instead of leaving half a batch behind. Nothing after a bad frame is read, so a writer
must cut the file back to the end of the last good frame (``valid_end``) before appending.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import IO

_HEADER = struct.Struct("<II")
_SIZE = struct.Struct("<I")
_MAX_PAYLOAD = 0xFFFF_FFFF
#: Compaction splits a long journal into frames of about this many bytes.
FRAME_TARGET = 16 << 20


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
    return _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


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


def scan(stream: IO[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(end offset, records)`` for each whole frame from the stream's start,
    stopping silently at the first torn or corrupt one."""
    offset = 0
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        length, crc = _HEADER.unpack(header)
        if length == 0:
            return  # never written: zeros left by a crash
        payload = stream.read(length)
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(header[:4])) != crc:
            return
        records = _split(payload)
        if records is None:
            return
        offset += _HEADER.size + length
        yield offset, records


def valid_end(stream: IO[bytes]) -> int:
    """The offset just past the last whole frame (0 for an empty or garbage stream)."""
    end = 0
    for end, _ in scan(stream):
        pass
    return end
