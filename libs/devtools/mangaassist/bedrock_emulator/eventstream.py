"""Encoder for the ``application/vnd.amazon.eventstream`` binary framing.

A message is: total length (4 bytes, big endian), headers length (4), prelude CRC32
(4), headers, payload, message CRC32 (4) over everything before it. Headers are
``name-length (1) | name | type (1) | value``; we only need type 7 (string:
``length (2) | utf-8 bytes``), which is all Bedrock uses for ``:event-type``,
``:message-type``, ``:content-type`` and ``:exception-type``.
"""

from __future__ import annotations

import struct
import zlib

import orjson

_STRING = 7


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes, *, corrupt_crc: bool = False) -> bytes:
    """One framed message; ``corrupt_crc`` flips the message CRC (fault injection)."""
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    crc = zlib.crc32(body)
    if corrupt_crc:
        crc ^= 0xFFFFFFFF
    return body + struct.pack("!I", crc)


def event(event_type: str, body: dict[str, object], *, corrupt_crc: bool = False) -> bytes:
    """A modelled event such as ``contentBlockDelta`` with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(body), corrupt_crc=corrupt_crc)


def exception(exception_type: str, message: str) -> bytes:
    """An in-stream modelled exception such as ``modelStreamErrorException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message}))
