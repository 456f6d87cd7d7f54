"""The per-image stopwatches share one watchdog thread: each still expires at its own deadline, in any
order of starting, shuts down the connections it holds, and never expires once its image is done."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from image_downloader.timelimit import Stopwatch


class Held:
    """A connection as urllib3 holds it: an object with a ``sock``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def wait_until(condition: object, seconds: float = 10.0) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_stopwatch_started_later_with_an_earlier_deadline_expires_first() -> None:
    late = Stopwatch(time.monotonic() + 60)
    early = Stopwatch(time.monotonic() + 0.2)
    with ExitStack() as running:
        running.enter_context(late.running())
        running.enter_context(early.running())

        assert wait_until(lambda: early.expired)
        assert not late.expired


def test_an_expired_stopwatch_shuts_down_the_connection_it_holds(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _theirs = socket_pair
    stopwatch = Stopwatch(time.monotonic() + 0.2)
    received: list[bytes] = []
    with stopwatch.running():
        stopwatch.attach(Held(ours))
        reader = threading.Thread(target=lambda: received.append(ours.recv(1)), daemon=True)
        reader.start()
        reader.join(timeout=10)

    assert stopwatch.expired
    assert received == [b""]  # the blocked read ended: the socket was shut down


def test_a_stopwatch_stopped_before_its_deadline_never_expires(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = socket_pair
    done = Stopwatch(time.monotonic() + 0.2)
    with done.running():
        done.attach(Held(ours))
    witness = Stopwatch(time.monotonic() + 0.4)  # expires after ``done``'s deadline has passed
    with witness.running():
        assert wait_until(lambda: witness.expired)

    assert not done.expired
    theirs.sendall(b"x")
    assert ours.recv(1) == b"x"  # still open
