"""Text to float32 at C speed: numpy parses a whole block of separated values in one call.

A per-value Python loop (float() on each token, as aeon's loader does) costs several times
more; the parsers instead join a block's value fields into one string and hand it to
`numpy.fromstring`. Only when that fails do they look for the offending token, field by field.
Missing values ('?', NaN, an empty cell where the format allows one) become NaN.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import re
import signal
import sys
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from sinecli.errors import SinecliError

#: Markers of a missing value, compared lower-cased and stripped.
MISSING_MARKERS = frozenset({"?", "nan"})
# what numpy's parser reads; float() also takes "1_000" and non-ASCII digits, numpy does not
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?",
                     re.ASCII | re.IGNORECASE)


def parse(text: str, count: int, sep: str | None) -> np.ndarray | None:
    """The `count` values of `text` separated by `sep` (None: whitespace) as float32, or None
    when the text holds anything but that many numbers and missing markers ('?', NaN).

    Infinities and values beyond float32's range come back as +-inf: the caller refuses them,
    naming the line.
    """
    if count == 0:
        return np.empty(0, dtype=np.float32) if not text.strip() else None
    fast = _parse_decimals(text, count, sep)
    if fast is not None:
        return fast
    if "?" in text:
        text = text.replace("?", "nan")
    return _fromstring(text, count, sep, np.float32)


def _fromstring(text: str, count: int, sep: str | None, dtype: type) -> np.ndarray | None:
    with warnings.catch_warnings():
        # numpy < 2.3 warns (DeprecationWarning) and returns what it read so far; newer ones
        # raise ValueError. Both mean "not all numbers".
        warnings.simplefilter("error")
        try:
            values: np.ndarray = np.fromstring(text, dtype=dtype,
                                               sep=sep if sep is not None else " ")
        except (ValueError, DeprecationWarning):
            return None
    return values if values.shape[0] == count else None


_PLAIN = b"0123456789-."  # the bytes of a plain decimal
_POW10 = 10.0 ** np.arange(23)  # exact in float64
_MAX_DIGITS = 15  # an integer of up to 15 digits is exact in float64
_SPECIAL_SHARE = 8  # at most 1 token in 8 parsed one by one; past that numpy's float parser


def _parse_decimals(text: str, count: int, sep: str | None) -> np.ndarray | None:
    """The values of `text` when its tokens are plain decimals ('-12.375', '.5', '7'), or None.

    numpy reads integers several times as fast as floats, so a decimal is read as the integer
    of its digits (the dot removed) and divided by 10**(digits after the dot). Both numbers
    are exact in float64 (at most 15 digits; at most 22 after the dot), so that one division
    is rounded correctly: the float64 that strtod gives, hence the float32 that numpy's float
    parser gives. A few other tokens (exponents, '?', NaN) are read one by one; a block with
    more of them, or with anything this cannot read exactly, gets None (numpy's float parser).
    """
    if sep is None:  # whitespace: the parsers join such fields with single spaces
        if "\t" in text or "\n" in text or "  " in text:
            return None
        sep = " "
    if len(sep) != 1 or not text.isascii():
        return None
    raw = text.encode("ascii")
    sep_byte = ord(sep)
    odd = raw.translate(None, _PLAIN + sep.encode())  # the bytes no plain decimal holds
    if len(odd) * _SPECIAL_SHARE > count:  # too many to read one by one: numpy's float parser
        return None
    special: np.ndarray = np.empty(0, dtype=np.int64)
    special_values: list[float] = []
    a = np.frombuffer(raw, dtype=np.uint8)
    seps = np.flatnonzero(a == sep_byte)
    n = seps.size + 1
    if n != count:
        return None
    starts, ends = _token_bounds(seps, a.size)
    if odd:  # a few tokens are not plain decimals: read them alone, zeros in their place
        found = _specials(text, odd.decode("ascii"), seps, starts, ends)
        if found is None:
            return None
        special, special_values, raw = found
        text = raw.decode("ascii")
        a = np.frombuffer(raw, dtype=np.uint8)
    lengths = ends - starts
    if special.size:
        lengths[special] = 1  # overwritten with zeros; their values are special_values
    if int(lengths.max()) > _MAX_DIGITS + 2:  # too many digits, before more work
        return None
    neg = a[np.minimum(starts, a.size - 1)] == 45
    if int(np.count_nonzero(neg)) != raw.count(b"-"):  # a '-' that does not lead its token
        return None
    n_dots = raw.count(b".")
    found_dots = _decimal_places(a, n_dots, seps, starts, ends)
    if found_dots is None:
        return None
    frac, has_dot = found_dots
    digits = lengths - neg - has_dot
    if digits.min() < 1 or digits.max() > _MAX_DIGITS or frac.max() > 22:
        return None
    ints = _fromstring(text.replace(".", "") if n_dots else text, n, sep, np.int64)
    if ints is None:
        return None
    values = np.abs(ints) / _POW10[frac]
    np.negative(values, out=values, where=neg)
    if special.size:
        values[special] = special_values
    return values.astype(np.float32)


def _token_bounds(seps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each token's first byte and the byte after its last (N,), N - 1 separators at `seps`
    in `size` bytes."""
    n = seps.size + 1
    starts = np.empty(n, dtype=np.int64)
    starts[0], starts[1:] = 0, seps + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1], ends[-1] = seps, size
    return starts, ends


def _decimal_places(a: np.ndarray, n_dots: int, seps: np.ndarray, starts: np.ndarray,
                    ends: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each token's digits after its dot (N,) and whether it has one (N,), for the bytes `a`
    of N tokens; None when a token holds two dots."""
    n = starts.size
    frac = np.zeros(n, dtype=np.int64)
    has_dot = np.zeros(n, dtype=bool)
    if n_dots:
        dots = np.flatnonzero(a == 46)
        if n_dots == n and bool((dots > starts).all() and (dots < ends).all()):
            np.subtract(ends - 1, dots, out=frac)
            has_dot[:] = True
        else:
            tokens = np.searchsorted(seps, dots)
            if tokens.size > 1 and bool((np.diff(tokens) == 0).any()):  # two dots in a token
                return None
            frac[tokens] = ends[tokens] - dots - 1
            has_dot[tokens] = True
    return frac, has_dot


def _specials(text: str, odd: str, seps: np.ndarray, starts: np.ndarray, ends: np.ndarray
              ) -> tuple[np.ndarray, list[float], bytes] | None:
    """The tokens holding the `odd` characters: their indices, their values (read one by
    one), and the text with each of them overwritten by zeros of the same length (so that
    every offset stays); None when one is not a number or they are too many."""
    positions: list[int] = []
    for char in set(odd):
        at = text.find(char)
        while at >= 0:
            positions.append(at)
            if len(positions) * _SPECIAL_SHARE > starts.size:
                return None
            at = text.find(char, at + 1)
    special = np.unique(np.searchsorted(seps, np.asarray(positions, dtype=np.int64)))
    out = bytearray(text.encode("ascii"))
    values: list[float] = []
    for i in special.tolist():  # a Python loop over the few special tokens only
        lo, hi = int(starts[i]), int(ends[i])
        value = token_value(text[lo:hi])
        if value is None:
            return None
        values.append(value)
        out[lo:hi] = b"0" * (hi - lo)
    return special, values, bytes(out)


def token_value(token: str) -> float | None:
    """One token as a float (NaN for a missing marker), or None when it is not a number."""
    stripped = token.strip()
    if stripped.lower() in MISSING_MARKERS:
        return math.nan
    return float(stripped) if _NUMBER.fullmatch(stripped) else None


def first_bad_token(field: str, sep: str | None) -> str | None:
    """The first token of `field` that is not a number or a missing marker (None: all fine)."""
    for token in (field.split(sep) if sep is not None else field.split()):
        if token_value(token) is None:
            return token
    return None


def describe(token: str) -> str:
    """A token for an error message: quoted and cut short when long; an empty one said so."""
    if not token.strip():
        return "an empty value"
    return repr(token if len(token) <= 40 else token[:37] + "...")


def _workers() -> int:
    """Processes to parse with: the idle CPUs this process may use (its CPUs less the load
    average), where fork is available (workers start in milliseconds, sharing the parent's
    imports); none when fewer than two are idle, since on a busy machine the extra processes
    only add the cost of moving text to them."""
    if sys.platform != "linux" or "fork" not in mp.get_all_start_methods():
        return 0
    cpus = len(os.sched_getaffinity(0))
    idle = int(cpus - os.getloadavg()[0] + 0.5)
    workers = min(idle, cpus, 8)
    return workers if workers >= 2 else 0


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and reports the interrupt."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class BlockParser:
    """Parses the blocks of one input in order, with `parse`; once the input spans two blocks,
    in worker processes (one per idle CPU), while the caller reads and splits the next ones.

    numpy's parser holds the GIL, so threads would not help; on one CPU it runs in-process.
    When numpy cannot read a block, its `fallback` runs in the caller: it returns the values
    read another way, or raises the error naming the first bad value. Fallbacks run in file
    order, so the error reported does not depend on how many workers there are.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._workers = _workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[Any, Callable[[], np.ndarray]]] = deque()
        self._held: tuple[str, int, str | None, Callable[[], np.ndarray]] | None = None
        self._done: list[np.ndarray] = []
        self._blocks = 0

    def submit(self, text: str, count: int, sep: str | None,
               fallback: Callable[[], np.ndarray]) -> None:
        self._blocks += 1
        if self._workers < 2:
            self._pending.append((parse(text, count, sep), fallback))
            self._settle(0)
            return
        if self._blocks == 1:  # hold it: a one-block input is parsed in-process
            self._held = (text, count, sep, fallback)
            return
        if self._pool is None:
            with warnings.catch_warnings():  # Python 3.12+ warns on fork with threads alive
                warnings.simplefilter("ignore", DeprecationWarning)
                self._pool = ProcessPoolExecutor(self._workers, mp.get_context("fork"),
                                                 initializer=_ignore_sigint)
            if self._held is not None:
                held, self._held = self._held, None
                self._pending.append((self._pool.submit(parse, *held[:3]), held[3]))
        self._pending.append((self._pool.submit(parse, text, count, sep), fallback))
        self._settle(2 * self._workers)

    def _settle(self, keep: int) -> None:
        """Wait for the oldest blocks until at most `keep` are pending."""
        while len(self._pending) > keep:
            job, fallback = self._pending.popleft()
            values = job.result() if isinstance(job, Future) else job
            self._done.append(values if values is not None else fallback())

    def raise_pending(self) -> None:
        """Raise the error of an earlier block, if one has any (before a later error)."""
        if self._held is not None:
            held, self._held = self._held, None
            self._pending.append((parse(*held[:3]), held[3]))
        self._settle(0)

    def collect(self) -> list[np.ndarray]:
        """Every block's values, in order (raising the first block's error, if any)."""
        try:
            self.raise_pending()
        finally:
            self.close()
        done, self._done = self._done, []
        return done

    def abandon(self, exc: BaseException) -> None:
        """The caller stopped on `exc`: raise an earlier block's error instead, when it is an
        error of the input (the first error in the file is the one reported), and stop the
        workers either way."""
        try:
            if isinstance(exc, SinecliError):
                self.raise_pending()
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
