"""The encryption CLI through real subprocesses: keygen, recipient, seal, open, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

VEIL = [sys.executable, "-m", "veil.cli"]


def run(
    *args: str, input: bytes | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "VEIL_PASSPHRASE"}
    full_env.update(env or {})
    return subprocess.run(
        [*VEIL, *args], input=input, capture_output=True, env=full_env, timeout=120
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for kind in ("x25519", "mlkem768-x25519", "rsa-3072", "ed25519"):
        path = d / f"{kind}.key"
        res = run("keygen", "--type", kind, "-o", str(path))
        assert res.returncode == 0, res.stderr
        rec = res.stdout.decode().strip()
        assert rec.startswith("veil:") and b"fingerprint: SHA256:" in res.stderr
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        out[kind] = (path, rec)
    return out


def test_recipient_prints_the_same_string(keys) -> None:
    for path, rec in keys.values():
        res = run("recipient", str(path))
        assert res.returncode == 0 and res.stdout.decode().strip() == rec


def test_keygen_refuses_to_overwrite(keys) -> None:
    path, _ = keys["x25519"]
    res = run("keygen", "-o", str(path))
    assert res.returncode == 2 and b"exists" in res.stderr


def test_seal_open_files_two_recipient_kinds(keys, tmp_path) -> None:
    data = os.urandom(200_000)
    (tmp_path / "in.bin").write_bytes(data)
    res = run(
        "seal",
        "-r",
        keys["x25519"][1],
        "-r",
        keys["rsa-3072"][1],
        str(tmp_path / "in.bin"),
        "-o",
        str(tmp_path / "in.veil"),
    )
    assert res.returncode == 0, res.stderr
    for kind in ("x25519", "rsa-3072"):
        out = tmp_path / f"out-{kind}.bin"
        res = run("open", "-i", str(keys[kind][0]), str(tmp_path / "in.veil"), "-o", str(out))
        assert res.returncode == 0, res.stderr
        assert out.read_bytes() == data


def test_stdin_stdout_and_recipients_file(keys, tmp_path) -> None:
    rfile = tmp_path / "recipients.txt"
    rfile.write_text(f"# consortium\n{keys['mlkem768-x25519'][1]}\n")
    sealed = run("seal", "-R", str(rfile), "-", input=b"piped secret")
    assert sealed.returncode == 0 and sealed.stdout.startswith(b"veil/v1\n")
    opened = run("open", "-i", str(keys["mlkem768-x25519"][0]), "-", input=sealed.stdout)
    assert opened.returncode == 0 and opened.stdout == b"piped secret"


def test_signed_and_verified_sender(keys, tmp_path) -> None:
    sealed = run(
        "seal", "-r", keys["x25519"][1], "--sign", str(keys["ed25519"][0]), "-", input=b"signed"
    )
    assert sealed.returncode == 0, sealed.stderr
    ok = run(
        "open",
        "-i",
        str(keys["x25519"][0]),
        "--verify-sender",
        keys["ed25519"][1],
        "-",
        input=sealed.stdout,
    )
    assert ok.returncode == 0 and ok.stdout == b"signed" and b"Signed by" in ok.stderr
    other = (
        run("keygen", "-t", "ed25519", "-o", str(tmp_path / "other.key")).stdout.decode().strip()
    )
    bad = run(
        "open", "-i", str(keys["x25519"][0]), "--verify-sender", other, "-", input=sealed.stdout
    )
    assert bad.returncode == 1 and bad.stdout == b""


def test_tampered_file_leaves_no_output_and_exits_1(keys, tmp_path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "in.bin").write_bytes(data)
    assert (
        run(
            "seal",
            "-r",
            keys["x25519"][1],
            str(tmp_path / "in.bin"),
            "-o",
            str(tmp_path / "s.veil"),
        ).returncode
        == 0
    )
    blob = bytearray((tmp_path / "s.veil").read_bytes())
    blob[-100] ^= 1
    (tmp_path / "t.veil").write_bytes(bytes(blob))
    res = run(
        "open",
        "-i",
        str(keys["x25519"][0]),
        str(tmp_path / "t.veil"),
        "-o",
        str(tmp_path / "out.bin"),
    )
    assert res.returncode == 1 and b"IntegrityError" in res.stderr
    assert not (tmp_path / "out.bin").exists()
    assert not [p for p in tmp_path.iterdir() if "veil-tmp" in p.name]


def test_not_a_recipient_exits_3(keys, tmp_path) -> None:
    sealed = run("seal", "-r", keys["x25519"][1], "-", input=b"x").stdout
    res = run("open", "-i", str(keys["rsa-3072"][0]), "-", input=sealed)
    assert res.returncode == 3 and b"NoIdentityError" in res.stderr


def test_passphrase_file_and_protected_identity(tmp_path) -> None:
    env = {"VEIL_PASSPHRASE": "tr0ub4dor&3"}
    sealed = run("seal", "-p", "-", input=b"by passphrase", env=env)
    assert sealed.returncode == 0, sealed.stderr
    assert run("open", "-p", "-", input=sealed.stdout, env=env).stdout == b"by passphrase"
    wrong = run("open", "-p", "-", input=sealed.stdout, env={"VEIL_PASSPHRASE": "nope"})
    assert wrong.returncode == 3
    res = run("keygen", "-p", "-o", str(tmp_path / "locked.key"), env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "locked.key").read_bytes().startswith(b"veil/v1\n")
    rec = res.stdout.decode().strip()
    assert run("recipient", str(tmp_path / "locked.key"), env=env).stdout.decode().strip() == rec


def test_malformed_inputs_have_clear_exit_codes(tmp_path) -> None:
    (tmp_path / "bad.key").write_text("not a key\n")
    res = run("open", "-i", str(tmp_path / "bad.key"), "-", input=b"veil/v1\n")
    assert res.returncode == 4 and b"KeyFormatError" in res.stderr
    res = run("seal", "-r", "veil:x25519:short", "-", input=b"x")
    assert res.returncode == 4
    res = run("seal", "-", input=b"x")
    assert res.returncode == 2
    assert run("frobnicate").returncode == 2


class _PipeReader(threading.Thread):
    """Collects whatever reaches the read end of a FIFO or pipe until told to stop."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        os.set_blocking(fd, False)
        self.fd, self.data, self.done = fd, bytearray(), threading.Event()

    def run(self) -> None:
        while True:
            stopping = self.done.is_set()
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                chunk = b""
            self.data += chunk
            if stopping and not chunk:
                return
            if not chunk:
                time.sleep(0.01)

    def finish(self) -> bytes:
        self.done.set()
        self.join(timeout=30)
        os.close(self.fd)
        return bytes(self.data)


def _truncated_sealed_file(keys, tmp_path: Path) -> Path:
    """A sealed file of 5 chunks cut inside the 4th: its first 3 chunks still authenticate."""
    (tmp_path / "in.bin").write_bytes(os.urandom(5 * 65536 + 1000))
    res = run("seal", "-r", keys["x25519"][1], str(tmp_path / "in.bin"), "-o", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    blob = (tmp_path / "s").read_bytes()
    (tmp_path / "cut.veil").write_bytes(blob[: len(blob) - 2 * 65536])
    return tmp_path / "cut.veil"


def test_open_to_a_fifo_is_refused_and_releases_nothing(keys, tmp_path) -> None:
    """Issue 13 finding 9: to a FIFO, the old code streamed the authenticated chunks of a
    truncated file before failing (a regular file would have received nothing)."""
    cut = _truncated_sealed_file(keys, tmp_path)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = _PipeReader(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    reader.start()
    res = run("open", "-i", str(keys["x25519"][0]), str(cut), "-o", str(fifo))
    received = reader.finish()
    assert received == b"", f"{len(received)} plaintext bytes reached the FIFO"
    assert res.returncode == 2, res.stderr
    assert b"ConfigError" in res.stderr and b"-o -" in res.stderr
    assert b"Traceback" not in res.stderr


def test_open_to_dev_fd_is_refused_without_a_traceback(keys, tmp_path) -> None:
    """``veil open … -o >(cmd)``: bash passes ``/dev/fd/N``, a pipe. Used to be a traceback."""
    cut = _truncated_sealed_file(keys, tmp_path)
    r, w = os.pipe()
    reader = _PipeReader(r)
    reader.start()
    env = {k: v for k, v in os.environ.items() if k != "VEIL_PASSPHRASE"}
    try:
        res = subprocess.run(
            [*VEIL, "open", "-i", str(keys["x25519"][0]), str(cut), "-o", f"/dev/fd/{w}"],
            capture_output=True,
            env=env,
            timeout=120,
            pass_fds=(w,),
        )
    finally:
        os.close(w)
    received = reader.finish()
    assert received == b"", f"{len(received)} plaintext bytes reached the pipe"
    assert res.returncode == 2 and b"ConfigError" in res.stderr, res.stderr
    assert b"Traceback" not in res.stderr


def test_open_and_seal_to_dev_null_and_seal_to_a_fifo_still_work(keys, tmp_path) -> None:
    """/dev/null releases nothing (the benchmarks use it); a sealed file is safe in a pipe."""
    (tmp_path / "in.bin").write_bytes(b"x" * 1000)
    res = run("seal", "-r", keys["x25519"][1], str(tmp_path / "in.bin"), "-o", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    res = run("open", "-i", str(keys["x25519"][0]), str(tmp_path / "s"), "-o", os.devnull)
    assert res.returncode == 0, res.stderr
    fifo = tmp_path / "sealed.fifo"
    os.mkfifo(fifo)
    reader = _PipeReader(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    reader.start()
    res = run("seal", "-r", keys["x25519"][1], str(tmp_path / "in.bin"), "-o", str(fifo))
    sealed = reader.finish()
    assert res.returncode == 0, res.stderr
    assert sealed.startswith(b"veil/v1\n")
