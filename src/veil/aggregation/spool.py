"""A round's reports spooled to a temporary file: what the Leader keeps so that a round can be
verified again (after the Helper restarts) without holding every report in memory.

A DAP Leader stores uploaded reports in its datastore before it aggregates them; this is the
embedded Leader's equivalent, private to the process (an anonymous temporary file, removed on
close) and read back one report at a time.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable, Iterator

from veil.aggregation.report import Report

_LEN = struct.Struct(">I")


class ReportSpool:
    """Reports written once, read back any number of times, in order."""

    def __init__(self, reports: Iterable[Report | bytes]) -> None:
        self._file = tempfile.TemporaryFile(prefix="veil-reports-")  # noqa: SIM115 - close()
        self.count = 0
        for item in reports:
            data = item.encode() if isinstance(item, Report) else bytes(item)
            self._file.write(_LEN.pack(len(data)) + data)
            self.count += 1
        self._file.flush()

    def __iter__(self) -> Iterator[bytes]:
        self._file.seek(0)
        for _ in range(self.count):
            (n,) = _LEN.unpack(self._file.read(_LEN.size))
            yield self._file.read(n)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
