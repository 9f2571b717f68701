"""The mask scanner reads chunks in place: bytes, bytearray or memoryview, any chunking."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.wsmask import MaskScanner

MASK = b"\x81\x82\x83\x84"


def _frame(payload_size: int, masked: bool = True) -> bytes:
    bit = 0x80 if masked else 0
    if payload_size < 126:
        head = bytes([0x81, bit | payload_size])
    elif payload_size < 65536:
        head = bytes([0x81, bit | 126]) + struct.pack("!H", payload_size)
    else:
        head = bytes([0x81, bit | 127]) + struct.pack("!Q", payload_size)
    return head + (MASK if masked else b"") + b"\x00" * payload_size


def _scan_all(chunks: list[bytes | bytearray | memoryview]) -> list[bool]:
    scanner = MaskScanner()
    return [scanner.scan(chunk) for chunk in chunks]


def test_memoryview_and_bytearray_chunks_are_scanned_like_bytes() -> None:
    stream = bytearray(_frame(5) + _frame(300) + _frame(70000) + _frame(3, masked=False))
    view = memoryview(stream)
    cuts = [1, 2, 3, 9, 10, 11, 1000, len(stream)]
    for cut in cuts:
        pieces = range(0, len(stream), cut)
        as_bytes = _scan_all([bytes(stream[i : i + cut]) for i in pieces])
        assert _scan_all([view[i : i + cut] for i in pieces]) == as_bytes
        assert _scan_all([stream[i : i + cut] for i in pieces]) == as_bytes
        assert not all(as_bytes)  # the unmasked frame at the end is seen whatever the chunking


def test_a_header_split_byte_by_byte_is_kept_whole_and_no_more() -> None:
    frame = _frame(70000)
    scanner = MaskScanner()
    for i in range(10):  # 2 header bytes and 8 of extended length
        assert scanner.scan(memoryview(frame)[i : i + 1])
        assert scanner._partial == (frame[: i + 1] if i < 9 else b"")
    assert scanner.scan(memoryview(frame)[10:])
    assert scanner.scan(_frame(2, masked=False)[:2]) is False


def test_a_split_header_followed_by_a_big_chunk_copies_only_the_header() -> None:
    """The chunk after a partial header is not concatenated: the scan still finds the frame
    after it, and only the incomplete header of a chunk's last frame is kept."""
    stream = _frame(126) + _frame(0) + _frame(1, masked=False)
    scanner = MaskScanner()
    assert scanner.scan(stream[:3])
    assert scanner._partial == stream[:3]
    rest = memoryview(bytearray(stream[3:]))
    assert scanner.scan(rest[:-3]) and scanner._partial == b""
    assert scanner.scan(rest[-3:]) is False


@given(
    sizes=st.lists(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536]) | st.integers(0, 300),
                   min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 70000), max_size=8),
    unmasked_at=st.none() | st.integers(0, 5),
    as_views=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_bytes_or_views_of_one_buffer_against_any_chunking(
    sizes: list[int], cuts: list[int], unmasked_at: int | None, as_views: bool
) -> None:
    joined = b"".join(_frame(n, i != unmasked_at) for i, n in enumerate(sizes))
    stream = memoryview(bytearray(joined)) if as_views else joined
    scanner, pos, results = MaskScanner(), 0, []
    for cut in [*cuts, len(stream)]:
        results.append(scanner.scan(stream[pos : pos + cut]))
        assert len(scanner._partial) < 10
        pos += cut
        if pos >= len(stream):
            break
    bad = unmasked_at is not None and unmasked_at < len(sizes)
    assert all(results) is not bad


def test_mask_scanner_follows_frames_across_chunks() -> None:
    stream = _frame(10) + _frame(300) + _frame(70000)
    for chunk in (1, 2, 3, 7, 1000, len(stream)):
        scanner = MaskScanner()
        assert all(scanner.scan(stream[i : i + chunk]) for i in range(0, len(stream), chunk))
    unmasked = stream + _frame(5, masked=False)
    scanner = MaskScanner()
    assert not all(scanner.scan(unmasked[i : i + 9]) for i in range(0, len(unmasked), 9))
