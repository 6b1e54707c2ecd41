"""A wall-clock sampling profiler for the release benchmark (`bench_release.py --profile`).

Moved out of bench_release.py unchanged, to keep that module under 500 lines.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType


class Sampler:
    """A wall-clock sampling profiler of the calls to `root` (a qualified name): a SIGALRM
    every `interval` seconds looks at the stack and charges the time since its previous
    look to every function on it below the root (once each: cumulative) and to the
    innermost one (own). The handler runs between bytecodes, so the
    time of a C call (hashing, I/O, rendering) lands on the Python function that made it.
    Unix only, main thread only.

    Why beside cProfile: on this Python (3.12.1), drawing with matplotlib's Agg backend
    loses cProfile's call stack, so create_release and everything above the charts are
    missing from its listing and no entry has callers; its own times stay right, its
    cumulative ones do not add up.
    """

    def __init__(self, root: str, interval: float = 0.001) -> None:
        self.root, self.interval = root, interval
        self.cumulative: Counter[tuple[str, int, str]] = Counter()
        self.own: Counter[tuple[str, int, str]] = Counter()
        self.seconds = 0.0

    def run(self, function: Callable[..., object], *args: object, **kwargs: object) -> None:
        last = time.perf_counter()

        def sample(signum: int, frame: FrameType | None) -> None:
            nonlocal last
            now = time.perf_counter()
            spent, last = now - last, now
            stack = []  # innermost first, up to the root: samples outside it are dropped
            while frame is not None and (not stack or stack[-1][2] != self.root):
                stack.append(self._key(frame))
                frame = frame.f_back
            if not stack or stack[-1][2] != self.root:
                return
            self.own[stack[0]] += spent
            for key in set(stack):
                self.cumulative[key] += spent

        previous = signal.signal(signal.SIGALRM, sample)
        started = last = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        try:
            function(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self.seconds = time.perf_counter() - started

    @staticmethod
    def _key(frame: FrameType) -> tuple[str, int, str]:
        code = frame.f_code
        return code.co_filename, code.co_firstlineno, code.co_qualname

    def report(self, top: int) -> str:
        """The `top` functions of this project by cumulative time, then the `top` functions
        of any origin by own time, with their share of the time spent in the root."""
        root = self.root
        total = next((t for k, t in self.cumulative.items() if k[2] == root), self.seconds)
        ours = [item for item in self.cumulative.items() if _is_ours(item[0][0])]
        lines = [f"{'cumul.':>7} {'%':>5} {'own':>6}  function ({total:.2f} s in {root})"]
        for key, spent in sorted(ours, key=lambda item: -item[1])[:top]:
            lines.append(f"{spent:6.2f}s {100 * spent / total:5.1f} {self.own[key]:5.2f}s  "
                         f"{key[2]} ({_short(key[0])}:{key[1]})")  # fmt: skip
        lines.append(f"{'own':>7} {'%':>5}  function, any origin")
        for key, spent in sorted(self.own.items(), key=lambda item: -item[1])[:top]:
            lines.append(f"{spent:6.2f}s {100 * spent / total:5.1f}  "
                         f"{key[2]} ({_short(key[0])}:{key[1]})")  # fmt: skip
        return "\n".join(lines)


PROJECT = Path(__file__).resolve().parent.parent


def _is_ours(path: str) -> bool:
    return path.startswith(str(PROJECT)) and "site-packages" not in path


def _short(path: str) -> str:
    if _is_ours(path):
        return str(Path(path).relative_to(PROJECT))
    for marker in ("site-packages/", "/lib/python3.12/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
