"""Outputs: checked before the work, written to a temporary file, renamed into place.

Make and CI rely on a target either being complete or absent, so every output of sinecli goes
through `atomic_path` or `write_bytes`/`write_text` here, and every command calls
`check_writable` on its targets before it starts the work. The rules (docs/guarantees.md,
"Outputs, the rule"):

- `-` is stdout.
- A missing target, or an existing regular file, is written to a temporary file beside it and
  renamed onto it: it is complete or untouched, whatever happens. An existing file keeps its
  permission bits (and, for root, its owner).
- A symlink is written through: the file it points to is replaced, the link stays. A dangling
  symlink or a symlink loop is refused.
- An existing character device or FIFO (`/dev/null`, `mkfifo`) is a stream, like `-`: the output
  is written into it, never replacing it. Other special files (block devices, sockets) are
  refused.
- Refused, before any work: a directory, a name ending in `/`, a name over the file system's
  limit (255 bytes), a folder that is missing or not writable, a read-only target (as `cp`
  without `-f` refuses it: permission bits without any write bit, or not writable to us, e.g.
  immutable), and a target that is one of the command's inputs (the same device and inode, so
  symlinks and hard links count).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sinecli.errors import OutputError, SinecliError
from sinecli.stops import STOP_SIGNALS  # held back while a temporary file is created

STDOUT = "-"
#: The longest file name most file systems take, in bytes (used when pathconf cannot tell).
NAME_MAX = 255
_TMP_SUFFIX = ".tmp"
_TMP_RANDOM = 8  # characters tempfile adds

#: Path values given on the command line with a trailing slash (pathlib drops it).
_dir_args: set[str] = set()


def note_arguments(args: Sequence[str]) -> None:
    """Remember the command-line values that end in `/` (or `/.`): `Path("out/")` is `out`, so
    without this `-o out/` would write a file named `out`. Called by the CLI on every run."""
    _dir_args.clear()
    for arg in args:
        values = [arg]
        if arg.startswith("--") and "=" in arg:
            values.append(arg.split("=", 1)[1])
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            values.append(arg[2:])  # -ofile/
        for value in values:
            if value.endswith(("/", "/.")) or (os.altsep and value.endswith(os.altsep)):
                _dir_args.add(str(Path(value)))


@dataclass(frozen=True)
class Target:
    """An output checked by `inspect`: where its bytes go and how."""

    path: Path  # as given
    final: Path  # the file written: `path`, or what its symlink points to
    stream: bool  # an existing character device or FIFO: written into, never replaced
    stat: os.stat_result | None  # of `final`, when it exists


def _fail(what: str, path: Path | str, problem: str) -> SinecliError:
    return SinecliError(f"{what} {path}: {problem}")


def _write_failed(what: str, path: Path | str, exc: OSError) -> OutputError:
    return OutputError(f"{what} {path}: cannot write: {exc.strerror or exc}")


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def inspect(target: str | Path, what: str = "output",
            inputs: Iterable[str | Path | None] = ()) -> Target:
    """Check `target` against the rules in this module's docstring; raise SinecliError (exit 2)
    naming it, or return where and how it is to be written."""
    raw = str(target)
    if raw == STDOUT:
        raise SinecliError(f"{what}: cannot be written to stdout ('-'); give a file path")
    path = Path(target)
    trailing_slash = raw.endswith(("/", "/.")) or raw in _dir_args or str(path) in _dir_args
    st, final = _resolved(path, what)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _fail(what, path, "is a directory")
    if trailing_slash:
        raise _fail(what, f"{path}/", "not a directory (a file name cannot end in /)")
    folder = final.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise _fail(what, path, f"folder {folder} {problem}")
    size = len(os.fsencode(final.name))
    if size > _name_max(folder):
        raise _fail(what, path, f"file name too long ({size} bytes; the limit is "
                    f"{_name_max(folder)})")
    stream = False
    if st is not None:
        _check_not_an_input(st, path, what, inputs)
        stream = _check_replaceable(st, path, final, what)
    if not stream and not os.access(folder, os.W_OK | os.X_OK):
        raise _fail(what, path, f"folder {folder} is not writable")
    return Target(path=path, final=final, stream=stream, stat=st)


def _resolved(path: Path, what: str) -> tuple[os.stat_result | None, Path]:
    """The target's stat (None: it does not exist) and the file to replace: the target, or
    the regular file a symlink leads to (the link stays)."""
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        st = None  # reported by the caller: a part of its folder is not a folder
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _fail(what, path, "file name too long") from None
        if exc.errno == errno.ELOOP:
            raise _fail(what, path, "its folder is a symlink loop") from None
        raise _fail(what, path, exc.strerror or str(exc)) from None
    final = path
    if st is not None and stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)  # what the link leads to (/dev/stdout's pipe included)
            if stat.S_ISREG(st.st_mode):  # replaced where it lies; the link stays
                final = Path(os.path.realpath(path, strict=True))
                if not os.path.samestat(st, os.stat(final)):
                    raise FileNotFoundError(errno.ENOENT, "moved while resolved")
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _fail(what, path, "is a symlink loop") from None
            if isinstance(exc, FileNotFoundError):
                raise _fail(what, path, f"is a symlink to {os.readlink(path)}, which does not "
                            "exist; not writing through a dangling symlink") from None
            raise _fail(what, path, exc.strerror or str(exc)) from None
    return st, final


def _check_not_an_input(st: os.stat_result, path: Path, what: str,
                        inputs: Iterable[str | Path | None]) -> None:
    """An existing target that is one of the command's inputs (links count) is refused."""
    for source in inputs:
        if source is None or str(source) == STDOUT:
            continue
        try:
            st_in = os.stat(source)
        except (OSError, ValueError):
            continue
        if _same_file(st, st_in):
            raise _fail(what, path, f"is the input {source} (the same file); writing it "
                        "would destroy the input")


def _check_replaceable(st: os.stat_result, path: Path, final: Path, what: str) -> bool:
    """An existing target: a writable regular file (replaced), or a writable device or FIFO
    (written in place: returns True); anything else is refused."""
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        if not os.access(final, os.W_OK):
            raise _fail(what, path, "is a device or FIFO that is not writable")
        return True
    if not stat.S_ISREG(mode):
        kind = "socket" if stat.S_ISSOCK(mode) else "block device" if stat.S_ISBLK(mode) \
            else "special file"
        raise _fail(what, path, f"is a {kind}, not a regular file; refusing to replace it")
    if not mode & 0o222:
        raise _fail(what, path, f"is read-only (mode {stat.S_IMODE(mode):04o}); make it "
                    "writable (chmod u+w) or remove it first")
    if not os.access(final, os.W_OK):
        raise _fail(what, path, f"is read-only to us (mode {stat.S_IMODE(mode):04o}, not "
                    "ours, or immutable: lsattr); make it writable or remove it first")
    return False


def check_suffix(target: str | Path, suffix: str, what: str, stdout: bool = True) -> None:
    """Datasets are written only as .npz files and checkpoints only as .pt files, so that
    every later command (and a reader of the folder) can tell them apart: a file target with
    another suffix is refused, with the name to give instead. `-` (when `stdout` allows it)
    and an existing device or FIFO, which are streams, take any name."""
    if str(target) == STDOUT and stdout:
        return
    path = Path(target)
    if path.suffix.lower() == suffix:
        return
    with contextlib.suppress(OSError, ValueError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            return  # a stream, or a folder that check_writable refuses in its own words
        if Path(os.path.realpath(path)).suffix.lower() == suffix:
            return  # a link to such a file (/dev/stdout redirected into one)
    fixed = path.with_suffix(suffix) if path.suffix and path.name != path.suffix else \
        Path(f"{target}{suffix}")
    also = " (or -o - for stdout)" if stdout else ""
    raise SinecliError(f"{what} {target}: {what}s are written as {suffix} files; give "
                       f"-o {fixed}{also}")


def check_writable(target: str | Path, what: str = "output",
                   inputs: Iterable[str | Path | None] = ()) -> Path:
    """Fail early, before any work, when `target` cannot be written or is one of `inputs`."""
    return inspect(target, what, inputs).path


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back for a few statements; they are delivered (and
    raised) right after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no masks, a tiny window remains
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _temp_prefix(name: str, limit: int) -> str:
    """`.NAME.`, with NAME shortened so that the temporary name fits in `limit` bytes."""
    room = limit - 2 - _TMP_RANDOM - len(_TMP_SUFFIX)
    encoded = os.fsencode(name)
    if len(encoded) > room:
        name = os.fsdecode(encoded[:room]).rstrip("\udcff")
        while len(os.fsencode(name)) > room:
            name = name[:-1]
    return f".{name}."


def _new_temp(folder: Path | None, prefix: str, what: str, path: Path) -> Path:
    """An empty temporary file; call it with the stop signals deferred (see atomic_path)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=_TMP_SUFFIX)
    except OSError as exc:
        raise _write_failed(what, path, exc) from exc
    os.close(fd)
    return Path(name)


def _permissions(tmp: Path, existing: os.stat_result | None) -> None:
    """An existing file's permission bits (and owner, for root); else what a plain open gives
    (mkstemp makes 0600 files)."""
    if existing is not None:
        os.chmod(tmp, stat.S_IMODE(existing.st_mode))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.chown(tmp, existing.st_uid, existing.st_gid)
        return
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def _copy_into(tmp: Path, target: Target, what: str) -> None:
    """Write the finished temporary file into a stream target (device, FIFO)."""
    try:
        with open(tmp, "rb") as src, open(target.final, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _write_failed(what, target.path, exc) from None


@contextlib.contextmanager
def atomic_path(target: str | Path, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path; when the block succeeds, rename it onto `target` (or, for a
    device or FIFO, copy it into `target`).

    On any exception (KeyboardInterrupt and the other stop signals included) the temporary
    file is removed and `target` is left exactly as it was. A failure to write the temporary
    file (a full disk) is a SinecliError naming `target`.
    """
    checked = inspect(target, what)
    path = checked.final
    tmp: Path | None = None
    try:
        # no signal between creating the file and holding its name in `tmp`, which the
        # `finally` below removes: a SIGTERM right after mkstemp would leave it behind
        with signals_deferred():
            if checked.stream:  # written into at the end, from a temporary file of its own
                tmp = _new_temp(None, ".sinecli-", what, checked.path)
            else:
                tmp = _new_temp(path.parent, _temp_prefix(path.name, _name_max(path.parent)),
                                what, checked.path)
        try:
            yield tmp
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise _write_failed(what, checked.path, exc) from None
        if checked.stream:
            _copy_into(tmp, checked, what)
            return
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            _permissions(tmp, checked.stat)
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_failed(what, checked.path, exc) from None
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_bytes(target: str | Path, data: bytes, what: str = "output") -> None:
    """Write `data` atomically to `target`, or to stdout when `target` is `-`."""
    if str(target) == STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_path(target, what) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str, what: str = "output") -> None:
    """Write `text` (UTF-8) atomically to `target`, or to stdout when `target` is `-`."""
    if str(target) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(target, text.encode("utf-8"), what)
