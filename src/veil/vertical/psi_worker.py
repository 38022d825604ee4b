"""One party of SecretFlow spu's two-party PSI, as a process in the PSI venv (``.venv-psi``).

veil's own virtualenv cannot hold ``spu`` 0.9.5 (it pins numpy < 2 and jax ≤ 0.4.34), so
:mod:`veil.vertical.psi_spu` runs this file with the PSI venv's interpreter. It is a standalone
script (``python psi_worker.py …``): the standard library and ``spu`` only, nothing from veil.
veil does not implement PSI here either: :func:`spu.psi.psi_execute` runs the protocol (RR22 by
default; KKRT, or ECDH over Curve25519, on request) over spu's own link (brpc over TCP; TLS
with ``--tls-dir``) between this process and the peer's worker.

``--input``: the party's items, one per line, in its row order: veil's ID digests as 64
lowercase hex digits, distinct. The receiver (``--rank`` equal to ``--receiver``) writes
``--output``: the rows of its input that the peer also holds, little-endian int64, ascending.
The sender writes nothing and is told nothing of the result (``broadcast_result`` is off).
On success the last line on stdout is one JSON object (``{"ok": true, "rows": …, "phases":
…}``; spu logs to stdout before it); on failure stderr says why. Exit codes: 0 done, 2 bad
arguments or input, 3 the protocol or its link failed.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
import tempfile
import threading
import time
from array import array

PROTOCOLS = ("RR22", "KKRT", "ECDH")
HEX_DIGEST = 64
_NOT_HEX = str.maketrans("", "", "0123456789abcdef")
#: where spu 0.9.5 leaves a perfetto trace of every run (a fixed folder, not $TMPDIR)
_TRACES = "/tmp/psi_*.trace"  # noqa: S108 - spu's choice; only this run's files are removed


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, choices=(0, 1), required=True)
    parser.add_argument("--receiver", type=int, choices=(0, 1), required=True, help="its rank")
    parser.add_argument(
        "--parties", nargs=2, required=True, metavar="HOST:PORT", help="rank 0's, rank 1's"
    )
    parser.add_argument("--input", required=True, help="one 64-hex item per line")
    parser.add_argument("--output", help="the receiver's result: int64 rows")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="RR22")
    parser.add_argument("--link-id", default="veil-psi", help="the run's id, the same at both")
    parser.add_argument("--connect-seconds", type=float, default=60.0)
    parser.add_argument("--recv-timeout-seconds", type=float, default=600.0)
    parser.add_argument("--tls-dir", help="holds cert.pem, key.pem (own) and peer.pem")
    args = parser.parse_args(argv)
    if args.rank == args.receiver and not args.output:
        parser.error("the receiver needs --output")
    return args


def read_items(path: str) -> list[str]:
    """The input's items: lines of 64 lowercase hex digits, at least one, all distinct."""
    with open(path, encoding="ascii") as handle:
        text = handle.read()
    width = HEX_DIGEST + 1
    count = len(text) // width
    if (
        count == 0
        or len(text) != count * width
        or text[HEX_DIGEST::width] != "\n" * count
        or text.translate(_NOT_HEX) != "\n" * count
    ):
        raise ValueError(f"the input must be lines of {HEX_DIGEST} lowercase hex digits")
    items = text.split("\n")
    items.pop()  # after the last newline
    if len(set(items)) != len(items):
        raise ValueError("the input repeats an item")
    return items


def _link(args: argparse.Namespace):
    from spu.libspu import link  # lazy: spu exists only in the PSI venv this script runs in

    desc = link.Desc()
    desc.id = args.link_id
    for rank, address in enumerate(args.parties):
        desc.add_party(f"party{rank}", address)
    desc.connect_retry_interval_ms = 200
    desc.connect_retry_times = max(1, int(args.connect_seconds * 5))
    desc.recv_timeout_ms = int(args.recv_timeout_seconds * 1000)
    desc.http_timeout_ms = int(args.recv_timeout_seconds * 1000)
    if args.tls_dir:
        cert, key = (os.path.join(args.tls_dir, name) for name in ("cert.pem", "key.pem"))
        desc.enable_ssl = True
        for side in (desc.server_ssl_opts, desc.client_ssl_opts):
            side.cert.certificate_path, side.cert.private_key_path = cert, key
            side.verify.ca_file_path = os.path.join(args.tls_dir, "peer.pem")
            side.verify.verify_depth = 1
    return link.create_brpc(desc, args.rank)


class _Link(threading.Thread):
    """spu's link, set up in the background: brpc releases the GIL while it connects (and while
    it waits out its reconnect back-off when the peer's worker started later), so that wait
    overlaps with reading and writing the input."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(daemon=True)
        self.args = args
        self.context = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.begun = time.perf_counter()

    def run(self) -> None:
        clock = time.perf_counter()
        try:
            self.context = _link(self.args)
        except BaseException as exc:  # handed to the main thread
            self.error = exc
        self.seconds = time.perf_counter() - clock

    def get(self, timeout: float):
        """The connected link, waiting at most ``timeout`` seconds from now (brpc's own
        retries can outlast ``--connect-seconds`` many times over, e.g. on a TLS mismatch)."""
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"the peer's worker did not connect within {timeout:.0f} s")
        if self.error is not None:
            raise self.error
        return self.context


def run(args: argparse.Namespace, items: list[str], scratch: str, link: _Link) -> dict:
    """One PSI run; the receiver's rows go to ``args.output``. Wall seconds per phase."""
    import spu.psi as psi  # lazy: spu exists only in the PSI venv this script runs in

    phases: dict[str, float] = {}
    clock = time.perf_counter()
    table = os.path.join(scratch, "input.csv")  # spu also writes input.csv.meta beside it
    with open(table, "w", encoding="ascii") as handle:
        handle.write("id,row\n")
        handle.writelines(f"{item},{row}\n" for row, item in enumerate(items))
    receiver = args.rank == args.receiver
    config = psi.PsiExecuteConfig()
    config.protocol_conf.protocol = getattr(psi.PsiProtocol, f"PROTOCOL_{args.protocol}")
    config.protocol_conf.receiver_rank = args.receiver
    config.protocol_conf.broadcast_result = False  # only the receiver learns the intersection
    if args.protocol == "ECDH":
        config.protocol_conf.ecdh_params.curve = psi.EllipticCurveType.CURVE_25519
    config.input_params.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    config.input_params.path = table
    config.input_params.selected_keys = ["id"]
    config.input_params.keys_unique = True  # read_items checked it: no de-duplication pass
    config.output_params.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    config.output_params.path = found = os.path.join(scratch, "intersection.csv")
    config.output_params.disable_alignment = True  # veil shuffles the result itself
    config.join_conf.type = psi.ResultJoinType.JOIN_TYPE_INNER_JOIN
    config.checkpoint_conf.enable = False
    config.checkpoint_conf.path = scratch  # spu's working folder even when not resuming
    phases["table"] = time.perf_counter() - clock
    clock = time.perf_counter()
    lctx = link.get(max(1.0, args.connect_seconds - (time.perf_counter() - link.begun)))
    phases["link_wait"] = time.perf_counter() - clock
    phases["link"] = link.seconds
    clock = time.perf_counter()
    try:
        report = psi.psi_execute(config, lctx)
    finally:
        lctx.stop_link()
        phases["psi"] = time.perf_counter() - clock
    if not receiver:
        return {"ok": True, "rank": args.rank, "rows": None, "phases": phases}
    clock = time.perf_counter()
    rows = array("q")
    with open(found, encoding="ascii") as handle:
        header = [name.strip('"') for name in handle.readline().rstrip("\n").split(",")]
        if header != ["id", "row"]:
            raise RuntimeError("spu's result does not have the columns id,row")
        for line in handle:
            item, row = line.rstrip("\n").split(",")
            index = int(row)
            if not 0 <= index < len(items) or items[index] != item.strip('"'):
                raise RuntimeError("spu returned a row that does not hold its item")
            rows.append(index)
    rows = array("q", sorted(set(rows)))
    if len(rows) != report.intersection_count:
        raise RuntimeError("spu's result and its report disagree on the intersection size")
    if sys.byteorder != "little":
        rows.byteswap()
    partial = args.output + ".part"
    with open(partial, "wb") as handle:
        rows.tofile(handle)
    os.replace(partial, args.output)
    phases["output"] = time.perf_counter() - clock
    return {"ok": True, "rank": args.rank, "rows": len(rows), "phases": phases}


def _peak_rss_mib() -> float | None:
    """This process's peak RSS since its exec (VmHWM; getrusage would count the parent's
    memory at fork, which Linux carries across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    clock = time.perf_counter()
    # lazy: spu exists only in the PSI venv; loading it (~1 s) is timed, before the link starts
    import spu.psi  # noqa: F401

    imported = time.perf_counter() - clock
    before = set(glob.glob(_TRACES))
    try:
        with tempfile.TemporaryDirectory(prefix="veil-psi-") as scratch:
            os.environ["TMPDIR"] = scratch  # spu's bucket store: removed with the folder
            link = _Link(args)
            link.start()
            clock = time.perf_counter()
            try:
                items = read_items(args.input)
            except (OSError, ValueError) as exc:  # a UnicodeDecodeError is a ValueError
                print(f"psi_worker: bad input: {exc}", file=sys.stderr)
                return 2
            read = time.perf_counter() - clock
            result = run(args, items, scratch, link)
    except Exception as exc:  # spu raises RuntimeError (yacl's exceptions) on link failures
        print(f"psi_worker: PSI failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    finally:
        for trace in set(glob.glob(_TRACES)) - before:
            with contextlib.suppress(OSError):
                os.unlink(trace)
    result["phases"] = {"import": imported, "read": read, **result["phases"]}
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # not sys.exit: brpc's threads take seconds to wind down at interpreter exit
