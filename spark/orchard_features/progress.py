"""What a person watching a run sees: timed phases and a progress bar of the images done."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from pyspark import Accumulator
from tqdm import tqdm

_POLL_SECONDS = 0.5


class Progress:
    """Prints each phase of a run with its duration, and records the durations."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.seconds: dict[str, float] = {}

    def say(self, message: str) -> None:
        """Print one line for the person running the job."""
        if self.enabled:
            print(message, file=self.stream, flush=True)

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Record how long the block takes under `key`, silently."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] = round(time.perf_counter() - started, 3)

    @contextmanager
    def phase(self, key: str, title: str) -> Iterator[None]:
        """Time a phase under `key`, announcing it as `title`."""
        self.say(f"{title}...")
        with self.timed(key):
            yield
        self.say(f"{title}: done in {self.seconds[key]:.1f} s")

    @contextmanager
    def counting(self, counter: Accumulator, total: int, description: str) -> Iterator[None]:
        """Show a bar of `counter` (a Spark accumulator, updated as tasks finish) up to `total`.

        The bar is filled when the block succeeds: files Spark skips (empty ones) never reach
        the counter but are accounted for afterwards.
        """
        stop, succeeded = threading.Event(), threading.Event()
        watcher = threading.Thread(target=self._watch, args=(counter, total, description, stop, succeeded), daemon=True)
        if self.enabled:
            watcher.start()
        try:
            yield
            succeeded.set()
        finally:
            stop.set()
            if watcher.is_alive():
                watcher.join()

    def _watch(self, counter: Accumulator, total: int, description: str, stop: threading.Event,
               succeeded: threading.Event) -> None:
        show = self._display(description, total)
        while not stop.wait(_POLL_SECONDS):
            show(min(counter.value, total), False)
        show(total if succeeded.is_set() else min(counter.value, total), True)

    def _display(self, description: str, total: int) -> Callable[[int, bool], None]:
        """A bar on a terminal; in a log file (an EMR step's stderr), a line at each change."""
        if self.stream.isatty():
            bar = tqdm(desc=description, total=total, unit="img", file=self.stream, dynamic_ncols=True)

            def show_bar(done: int, final: bool) -> None:
                bar.n = done
                bar.refresh()
                if final:
                    bar.close()

            return show_bar
        shown = [-1]

        def show_line(done: int, final: bool) -> None:
            if done != shown[0]:
                self.say(f"{description}: {done}/{total} images ({100 * done // max(total, 1)} %)")
                shown[0] = done

        return show_line
