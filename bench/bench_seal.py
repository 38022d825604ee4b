"""Seal and open a large file: veil vs age vs gpg vs raw AES-256-GCM vs cp, in one run.

Writes bench/results/seal.json. Figures are wall seconds and the child's peak RSS; the
comparison that matters is the ratio to age measured in the same run (the machine is shared).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import quick, run_measured, write_result


def _file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def _raw_aesgcm(size: int) -> dict:
    """AES-256-GCM of ``cryptography`` on bytes in memory: one call, and in 64 KiB chunks."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(256))
    data = os.urandom(size)
    t0 = time.perf_counter()
    aead.encrypt(os.urandom(12), data, None)
    one_shot = time.perf_counter() - t0
    view, out = memoryview(data), bytearray((64 << 10) + 16)
    t0 = time.perf_counter()
    for i in range(0, size, 64 << 10):
        aead.encrypt_into(i.to_bytes(12, "big"), view[i : i + (64 << 10)], None, out)
    chunked = time.perf_counter() - t0
    return {
        "raw_aes256gcm_in_memory": {"seconds": round(one_shot, 3), "peak_rss_mib": None},
        "raw_aes256gcm_64k_chunks_in_memory": {"seconds": round(chunked, 3), "peak_rss_mib": None},
    }


def _api_rows(src: Path, sealed: Path) -> dict:
    """veil's Python API in this process (what the training pipeline calls), to /dev/null."""
    from veil.crypto.keys import generate_identity
    from veil.crypto.seal import open_stream, seal_stream

    ident = generate_identity("x25519")
    with src.open("rb") as f, sealed.open("wb") as g:
        seal_stream(f, g, [ident.recipient()])
    best = {"veil_api_seal_to_devnull": 1e9, "veil_api_open_to_devnull": 1e9}
    for _ in range(1 if quick() else 3):
        t0 = time.perf_counter()
        with src.open("rb") as f, open(os.devnull, "wb") as g:
            seal_stream(f, g, [ident.recipient()])
        best["veil_api_seal_to_devnull"] = min(
            best["veil_api_seal_to_devnull"], time.perf_counter() - t0
        )
        t0 = time.perf_counter()
        with sealed.open("rb") as f, open(os.devnull, "wb") as g:
            open_stream(f, g, [ident])
        best["veil_api_open_to_devnull"] = min(
            best["veil_api_open_to_devnull"], time.perf_counter() - t0
        )
    return {k: {"seconds": round(v, 3), "peak_rss_mib": None} for k, v in best.items()}


def main() -> None:
    size = (64 if quick() else 1024) << 20
    veil = [sys.executable, "-m", "veil.cli"]
    env = {k: v for k, v in os.environ.items() if k != "VEIL_PASSPHRASE"}
    with tempfile.TemporaryDirectory(dir=os.environ.get("VEIL_BENCH_TMP")) as tmp:
        d = Path(tmp)
        src = d / "data.bin"
        _file(src, size)
        rows: dict[str, dict] = {}
        rows["cp"] = run_measured(["cp", str(src), str(d / "copy.bin")])
        rows.update(_raw_aesgcm(size))
        subprocess.run(
            [*veil, "keygen", "-o", str(d / "v.key")], check=True, capture_output=True, env=env
        )
        rec = (
            subprocess.run(
                [*veil, "recipient", str(d / "v.key")], check=True, capture_output=True, env=env
            )
            .stdout.decode()
            .strip()
        )
        rows["veil_seal"] = run_measured(
            [*veil, "seal", "-r", rec, str(src), "-o", str(d / "s.veil")], env=env
        )
        rows["veil_open"] = run_measured(
            [*veil, "open", "-i", str(d / "v.key"), str(d / "s.veil"), "-o", str(d / "o.bin")],
            env=env,
        )
        assert (d / "o.bin").stat().st_size == size
        rows.update(_api_rows(src, d / "api.veil"))
        # the same without the disk write: the tools' own cost
        rows["veil_seal_to_devnull"] = run_measured(
            [*veil, "seal", "-r", rec, str(src), "-o", "/dev/null"], env=env
        )
        rows["veil_open_to_devnull"] = run_measured(
            [*veil, "open", "-i", str(d / "v.key"), str(d / "s.veil"), "-o", "/dev/null"], env=env
        )
        if shutil.which("age"):
            subprocess.run(["age-keygen", "-o", str(d / "a.key")], check=True, capture_output=True)
            arec = (
                subprocess.run(
                    ["age-keygen", "-y", str(d / "a.key")], check=True, capture_output=True
                )
                .stdout.decode()
                .strip()
            )
            rows["age_encrypt"] = run_measured(
                ["age", "-r", arec, "-o", str(d / "s.age"), str(src)]
            )
            rows["age_decrypt"] = run_measured(
                ["age", "-d", "-i", str(d / "a.key"), "-o", str(d / "o2.bin"), str(d / "s.age")]
            )
            rows["age_encrypt_to_devnull"] = run_measured(
                ["age", "-r", arec, "-o", "/dev/null", str(src)]
            )
            rows["age_decrypt_to_devnull"] = run_measured(
                ["age", "-d", "-i", str(d / "a.key"), "-o", "/dev/null", str(d / "s.age")]
            )
        if shutil.which("gpg"):
            gh = d / "gnupg"
            gh.mkdir(mode=0o700)
            gpg = [
                "gpg",
                "--homedir",
                str(gh),
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "bench",
            ]
            rows["gpg_symmetric_encrypt"] = run_measured(
                [
                    *gpg,
                    "--symmetric",
                    "--cipher-algo",
                    "AES256",
                    "--compress-algo",
                    "none",
                    "-o",
                    str(d / "s.gpg"),
                    str(src),
                ]
            )
            rows["gpg_decrypt"] = run_measured(
                [*gpg, "-d", "-o", str(d / "o3.bin"), str(d / "s.gpg")]
            )
    mib = size >> 20
    for r in rows.values():
        r["MiB_per_s"] = round(mib / r["seconds"], 1) if r["seconds"] else None
    ratios = {}
    if "age_encrypt" in rows:
        ratios["veil_seal_throughput_vs_age"] = round(
            rows["age_encrypt"]["seconds"] / rows["veil_seal"]["seconds"], 2
        )
        ratios["veil_open_throughput_vs_age"] = round(
            rows["age_decrypt"]["seconds"] / rows["veil_open"]["seconds"], 2
        )
        for verb, age_verb in (("seal", "encrypt"), ("open", "decrypt")):
            ratios[f"veil_api_{verb}_to_devnull_throughput_vs_age"] = round(
                rows[f"age_{age_verb}_to_devnull"]["seconds"]
                / rows[f"veil_api_{verb}_to_devnull"]["seconds"],
                2,
            )
            ratios[f"veil_{verb}_to_devnull_throughput_vs_age"] = round(
                rows[f"age_{age_verb}_to_devnull"]["seconds"]
                / rows[f"veil_{verb}_to_devnull"]["seconds"],
                2,
            )
    targets = {"throughput_vs_age_min": 2.0, "peak_rss_mib_max": 64}
    path = write_result(
        "seal", {"size_bytes": size, "rows": rows, "ratios": ratios, "targets": targets}
    )
    print(f"{'tool':36} {'s':>7} {'MiB/s':>8} {'peak RSS MiB':>13}")
    for name, r in rows.items():
        print(f"{name:36} {r['seconds']:7.2f} {r['MiB_per_s']:8.0f} {r['peak_rss_mib'] or '-':>13}")
    print(ratios, "->", path)


if __name__ == "__main__":
    main()
