"""What keeps a long run safe around it: the output folder checked before any model loads, one
claim per cell across processes, and a clean stop on SIGINT/SIGTERM.

- `check_output_folder(path)`: the folder exists or can be made, and a file can be written in it;
  otherwise a one-line reason (a regular file on the way, no permission, a full disk).
- `CellClaims`: a lock file per cell (``<output>/.claims/<cell_id>.lock``, `filelock`),
  taken before the cell's requests are built and held until the cell is written. The lock is an
  advisory `flock`, which the kernel drops when its process dies, so a killed run leaves no claim
  behind (the stale-lock rule is the operating system's). A process that finds a cell claimed
  moves on; one that wins the claim of a cell another process has just finished skips it too.
- `stop_on_signals()`: SIGINT and SIGTERM raise `GridStopped` in the main thread; the caller
  abandons the cell in progress, ends its child processes (`end_child_processes`: vLLM's engine
  core and workers) and exits with 128 + the signal number.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class OutputFolderError(OSError):
    pass


def check_output_folder(path: Path) -> None:
    """Raises OutputFolderError with a one-line reason unless ``path`` is a folder this process can write into."""
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path}: is a file, expected a folder (or a path where one can be made)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(f"{path}: cannot create the output folder: {err.strerror or err}") from None
    probe = path / f".reportbench-write-check-{os.getpid()}"
    try:
        with probe.open("wb") as handle:  # a few KB, flushed to disk: a full disk says so here, not after the model loaded
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise OutputFolderError(f"{path}: cannot write in the output folder: {err.strerror or err}") from None
    finally:
        with suppress(OSError):
            probe.unlink()


class CellClaims:
    """Per-cell claims shared by every process writing into one output folder."""

    def __init__(self, lock_path: Callable[[object], Path], is_done: Callable[[object], bool]):
        self._lock_path = lock_path
        self._is_done = is_done
        self._held: dict[str, object] = {}

    def take(self, key: str, cell) -> bool:
        """True if this process now holds ``cell``'s claim and the cell is not done yet."""
        from filelock import FileLock, Timeout

        path = self._lock_path(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        if self._is_done(cell):  # finished by another process between our listing and the claim
            lock.release()
            return False
        self._held[key] = lock
        return True

    def release(self, key: str) -> None:
        lock = self._held.pop(key, None)
        if lock is not None:
            lock.release()

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)


class GridStopped(BaseException):
    """SIGINT or SIGTERM: raised in the main thread; a BaseException (as KeyboardInterrupt is), so no
    `except Exception` in lm-eval or an engine swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def _raise_stopped(signum, frame):
    raise GridStopped(signum)


def install_stop_handlers() -> None:
    """(Re)installs the handlers: an engine may install its own while it loads."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT/SIGTERM raise GridStopped inside the block; the previous handlers come back after it."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    install_stop_handlers()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ignore_stop_signals() -> None:
    """While cleaning up after a stop: a second Ctrl-C must not interrupt the cleanup with a traceback."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def end_child_processes(grace_seconds: float = 10.0) -> int:
    """Ends every descendant of this process (an inference engine and its workers) and returns how many
    there were. Direct children first, with SIGTERM, so an engine shuts its own workers down (killing a
    worker under a busy engine makes the engine print a traceback); then whatever is left, and after
    ``grace_seconds`` SIGKILL."""
    import psutil

    try:
        me = psutil.Process()
        everyone = me.children(recursive=True)
        direct = me.children()
    except psutil.Error:
        return 0
    for group in (direct, [p for p in everyone if p not in direct]):
        for child in group:
            with suppress(psutil.Error):
                child.terminate()
        psutil.wait_procs(group, timeout=grace_seconds)
    alive = [p for p in everyone if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for child in alive:
        with suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=grace_seconds)
    return len(everyone)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
