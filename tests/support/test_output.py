"""The line buffers the tests wait on: woken by each line, ended streams and timeouts reported."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest

from tests.support.output import Output, OutputWriter, StreamEnded


async def test_a_wait_wakes_on_the_line_a_reader_thread_feeds() -> None:
    output = Output("test stream")
    release = threading.Event()

    def writer() -> None:
        release.wait()
        output.feed("first")
        output.feed("ready at 1")

    thread = threading.Thread(target=writer)
    thread.start()
    waiting = asyncio.create_task(output.wait_for(lambda line: "ready" in line, "ready line"))
    await asyncio.sleep(0)  # the wait is registered and found nothing
    assert not waiting.done()
    release.set()
    assert await waiting == "ready at 1"
    thread.join()
    assert output.text() == "first\nready at 1\n"


async def test_a_closed_stream_ends_the_wait_with_what_it_said() -> None:
    output = Output("test stream")
    output.read_from(io.BytesIO(b"starting\nfailed: port in use\n"))
    with pytest.raises(StreamEnded, match="port in use"):
        await output.wait_for(lambda line: "ready" in line, "ready line")
    assert await output.wait_closed() == ["starting", "failed: port in use"]


async def test_a_timeout_fails_quoting_the_stream() -> None:
    output = Output("test stream")
    output.feed("still loading")
    with pytest.raises(AssertionError, match=r"(?s)ready line: not within 0.01 s.*still loading"):
        await output.wait_until(lambda lines: len(lines) > 1, "ready line", timeout=0.01)


def test_the_writer_splits_lines_and_passes_everything_on() -> None:
    output, passed_on = Output("stderr"), io.StringIO()
    writer = OutputWriter(output, also=passed_on)
    writer.write('{"event": "a"}\n{"eve')
    writer.write('nt": "b"}\nnot json\n')
    assert output.json_lines() == [{"event": "a"}, {"event": "b"}]
    assert output.lines[-1] == "not json"
    assert passed_on.getvalue() == '{"event": "a"}\n{"event": "b"}\nnot json\n'
    assert output.wait_for_sync(lambda line: "b" in line, "b", timeout=1) == '{"event": "b"}'
