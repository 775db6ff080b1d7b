"""An import's input, read as blocks of whole lines so that a large file is never held whole.

The bytes are hashed as they are read (meta records the sha256 of exactly what was parsed),
checked to be text (UTF-8, no NUL bytes), and split only at newlines, which never occur inside
a UTF-8 sequence. Errors name the file and the line, as `<file>:<line>: <what>`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sinecli.errors import SinecliError

BLOCK_BYTES = 8 << 20  # text parsed at a time: bounds the parser's temporary memory
_BOM = b"\xef\xbb\xbf"


@dataclass
class Block:
    """Whole lines of text ('\\r\\n' turned into '\\n'); `first_line` is 1-based."""

    text: str
    first_line: int


class Source:
    """The bytes of a file or a stream, named `name` in messages; read once, in blocks."""

    def __init__(self, name: str, stream: BinaryIO, block_bytes: int = BLOCK_BYTES) -> None:
        self.name = name
        self._stream = stream
        self._block_bytes = block_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        self.lines = 0  # lines read so far (the last line's number once exhausted)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>", block_bytes: int = BLOCK_BYTES
                   ) -> Source:
        return cls(name, io.BytesIO(data), block_bytes)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()

    @property
    def sha256(self) -> str:
        """Hex digest of the bytes read so far (all of them, once `blocks()` is exhausted)."""
        return self._hash.hexdigest()

    def error(self, line: int, what: str) -> SinecliError:
        """`<file>:<line>: <what>`, on one line whatever the file held (control characters
        quoted from a damaged file would otherwise break it)."""
        if not what.isprintable():
            what = "".join(c if c.isprintable() else repr(c)[1:-1] for c in what)
        return SinecliError(f"{self.name}:{line}: {what}")

    def blocks(self) -> Iterator[Block]:
        """Blocks of whole lines; the last may lack its final newline. An OSError while
        reading (EIO, or EISDIR from a path that names a folder on some systems) is a
        SinecliError naming the source."""
        pending = b""
        line = 1
        first = True
        while True:
            try:
                chunk = self._stream.read(self._block_bytes)
            except OSError as exc:
                raise SinecliError(f"{self.name}: cannot read: {exc.strerror or exc}") from None
            if chunk:
                self._hash.update(chunk)
                self.size += len(chunk)
            if first:
                if not chunk:
                    raise self.error(1, "empty file")
                if chunk.startswith(_BOM):
                    chunk = chunk[len(_BOM):]
                first = False
            data = pending + chunk if pending else chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: read on
                    pending = data
                    continue
                data, pending = data[:cut], data[cut:]
            if data:
                yield Block(self._decode(data, line), line)
                line += data.count(b"\n")
                self.lines = line - (1 if data.endswith(b"\n") else 0)
            if not chunk:
                return

    def _decode(self, data: bytes, line: int) -> str:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise self.error(line + data.count(b"\n", 0, nul),
                             "binary data (a NUL byte): not a text file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(line + data.count(b"\n", 0, exc.start),
                             f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
        return text.replace("\r\n", "\n") if "\r" in text else text


def open_source(path: str | Path, stdin: BinaryIO | None = None) -> Source:
    """A Source for `path`, or for `stdin` when path is '-'; a SinecliError when unreadable."""
    name = str(path)
    if name == "-":
        if stdin is None:
            raise SinecliError("-: no standard input to read")
        return Source("-", stdin)
    p = Path(path)
    if p.is_dir():
        raise SinecliError(f"{name}: is a directory, expected a file to import")
    try:
        fh = open(p, "rb")  # noqa: SIM115 (the Source closes it)
    except FileNotFoundError:
        raise SinecliError(f"{name}: no such file") from None
    except OSError as exc:
        raise SinecliError(f"{name}: cannot read: {exc.strerror}") from None
    return Source(name, fh)
