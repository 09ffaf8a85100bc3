"""The MLLP listener: HL7 v2 ADT messages in over TCP, each answered only after it is stored (`AdtJournal`).

MLLP framing is python-hl7's (`hl7.mllp`: a block is <VT> message <FS><CR>). Each connection is read one block at a
time, as MLLP senders expect: the answer to a message goes out before the next is read. The database work runs in
one writer thread, which takes every message waiting at that moment (from all connections) in one transaction.

A broken frame (bytes before the start block, a start or end block inside a message, a message over the size
limit) is answered AR; a connection closed in the middle of a frame has stored nothing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

from hl7.mllp import InvalidBlockError, start_hl7_server

from forecast.feeds.hl7v2 import APPLICATION, SEGMENT_ORDER, Header, Incoming, Refusal, acknowledgment, read_header
from forecast.feeds.journal import AdtJournal, Taken

__all__ = ["MAX_BATCH", "MAX_MESSAGE", "AdtListener"]

log = logging.getLogger("bedcast.adt")

MAX_MESSAGE = 1 << 20  # bytes in one MLLP block
MAX_BATCH = 200  # messages in one transaction
START, END = b"\x0b", b"\x1c"

_Work = tuple[Incoming, "asyncio.Future[Taken]"]


class AdtListener:
    """Listens on `host:port`; `serve()` runs until cancelled, `start()` runs it in a background thread.

    Args:
        journal: where messages are stored.
        host: address to listen on.
        port: TCP port (2575 is HL7's registered port; 0 picks a free one, see `port` after start).
        on_stored: called (from the writer thread) after a transaction that stored new messages.
    """

    def __init__(
        self,
        journal: AdtJournal,
        host: str = "127.0.0.1",
        port: int = 2575,
        on_stored: Callable[[], None] | None = None,
    ):
        self.journal, self.host, self.port, self.on_stored = journal, host, port, on_stored
        self._work: queue.Queue[_Work | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None

    async def serve(self) -> None:
        """Listen until cancelled (or `stop()`)."""
        self._writer = threading.Thread(target=self._write, name="adt-writer", daemon=True)
        self._writer.start()
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            # A service manager stops it with SIGTERM (and a shell's background job ignores SIGINT): both end it
            # cleanly, the messages being stored finished and answered first.
            for signal_number in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signal_number, self._stopped.set)
        server = await start_hl7_server(self._connection, self.host, self.port, limit=MAX_MESSAGE)
        self.port = server.sockets[0].getsockname()[1]
        log.info("ADT listener on %s:%d", self.host, self.port)
        self._ready.set()
        try:
            async with server:
                await self._stopped.wait()
        finally:
            self._work.put(None)
            await asyncio.to_thread(self._writer.join, 10)
        log.info("ADT listener stopped")

    def start(self) -> None:
        """Listen in a background thread; returns once the port is open.

        Raises:
            OSError: the port cannot be opened (in use, not allowed).
        """
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as error:  # reported to the caller of start()
                failure.append(error)
                self._ready.set()

        self._thread = threading.Thread(target=run, name="adt-listener", daemon=True)
        self._thread.start()
        self._ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        """Stop listening (messages being stored are finished first)."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._writer is not None:
            self._writer.join(timeout=10)

    async def _connection(self, reader: Any, writer: Any) -> None:
        peer = writer.get_extra_info("peername")
        log.debug("ADT connection from %s", peer)
        try:
            while not writer.is_closing():
                try:
                    block = await reader.readblock()
                    answer = await self._take(block)
                except InvalidBlockError:
                    answer = _framing("bytes before the start block <VT>", b"")
                except ValueError:
                    answer = _framing(f"a message over {MAX_MESSAGE} bytes", b"")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                writer.writeblock(answer)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            log.debug("ADT connection from %s closed", peer)

    async def _take(self, block: bytes) -> bytes:
        """Read here (while the writer thread waits for the database's sync), stored by the writer thread."""
        if START in block or END in block:
            return _framing("a start or end block inside a message", block.rsplit(START, 1)[-1])
        read = self.journal.read(block)
        if isinstance(read, Taken):  # refused: nothing to store
            return read.ack
        assert self._loop is not None
        done: asyncio.Future[Taken] = self._loop.create_future()
        self._work.put((read, done))
        return (await done).ack

    def _write(self) -> None:
        """The writer thread: every message waiting, in one transaction, until told to stop."""
        while True:
            first = self._work.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._work.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._work.put(None)
                    break
                batch.append(more)
            try:
                taken = self.journal.keep([read for read, _ in batch])
            except Exception as error:  # never leave a sender without an answer
                log.exception("ADT batch failed")
                taken = [_failed(read.header, error) for read, _ in batch]
            assert self._loop is not None
            # One wake-up of the event loop for the whole batch.
            self._loop.call_soon_threadsafe(_answer, [done for _, done in batch], taken)
            if self.on_stored is not None and any(t.new for t in taken):
                self.on_stored()


def _framing(problem: str, content: bytes) -> bytes:
    """AR for a broken MLLP frame, addressed to the message inside if its header can be read."""
    text = content.decode("latin-1")
    header = read_header(text) if text.startswith("MSH") and len(text) > 8 else Header()
    log.warning("ADT frame refused: %s", problem)
    return acknowledgment(header, Refusal("AR", "MSH", None, SEGMENT_ORDER, f"broken MLLP frame: {problem}", header))


def _answer(waiting: list[asyncio.Future[Taken]], taken: list[Taken]) -> None:
    for done, outcome in zip(waiting, taken, strict=True):
        if not done.done():  # its connection may have gone
            done.set_result(outcome)


def _failed(header: Header, error: Exception) -> Taken:
    refusal = Refusal("AE", "MSH", 10, APPLICATION, f"not stored ({type(error).__name__}); send it again", header)
    return Taken(acknowledgment(header, refusal), "AE")
