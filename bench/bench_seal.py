"""Seal and open large files: veil vs age vs gpg vs raw AES-256-GCM vs cp, in one run.

The CLI against age at 256 MiB and 1 GiB, to a file and to /dev/null (issue 18.1: the goal is
2x age both ways); the other rows at 1 GiB. Writes bench/results/seal.json. Figures are wall
seconds and the child's peak RSS; the comparison that matters is the ratio to age measured in
the same run (the machine is shared).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import _run_once, quick, run_measured, write_result


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


def _cli_vs_age(d: Path, src: Path, veil: list[str], env: dict, vrec: str, arec: str) -> dict:
    """veil and age CLI, seal/open, to a file and to /dev/null: alternating, median of runs.

    Alternating the tools round by round spreads the shared machine's load over both; the
    median of 3 (1 in quick mode) is the figure. Outputs go to fresh names, as both tools'
    own ``-o`` would on a first run.
    """
    vkey, akey = str(d / "v.key"), str(d / "a.key")
    sv, sa = str(d / f"{src.stem}.veil"), str(d / f"{src.stem}.age")
    cmds = {
        "veil_seal": [*veil, "seal", "-r", vrec, str(src), "-o", sv],
        "age_encrypt": ["age", "-r", arec, "-o", sa, str(src)],
        "veil_open": [*veil, "open", "-i", vkey, sv, "-o", str(d / "o.bin")],
        "age_decrypt": ["age", "-d", "-i", akey, "-o", str(d / "o2.bin"), sa],
        "veil_seal_to_devnull": [*veil, "seal", "-r", vrec, str(src), "-o", "/dev/null"],
        "age_encrypt_to_devnull": ["age", "-r", arec, "-o", "/dev/null", str(src)],
        "veil_open_to_devnull": [*veil, "open", "-i", vkey, sv, "-o", "/dev/null"],
        "age_decrypt_to_devnull": ["age", "-d", "-i", akey, "-o", "/dev/null", sa],
    }
    runs: dict[str, list[dict]] = {k: [] for k in cmds}
    for _ in range(1 if quick() else 3):
        for name, argv in cmds.items():
            out = argv[argv.index("-o") + 1]
            if out != os.devnull:
                Path(out).unlink(missing_ok=True)  # a fresh output, as on a first run
            runs[name].append(_run_once(argv, env if name.startswith("veil") else None))
        assert (d / "o.bin").stat().st_size == src.stat().st_size
    rows = {}
    for name, rs in runs.items():
        secs = sorted(r["seconds"] for r in rs)
        rows[name] = {
            "seconds": secs[len(secs) // 2],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
            "all_seconds": [r["seconds"] for r in rs],
        }
    return rows


def main() -> None:
    sizes = [64 << 20] if quick() else [256 << 20, 1 << 30]
    veil = [sys.executable, "-m", "veil.cli"]
    env = {k: v for k, v in os.environ.items() if k != "VEIL_PASSPHRASE"}
    has_age = shutil.which("age") is not None
    per_size: dict[str, dict] = {}
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("VEIL_BENCH_TMP")) as tmp:
        d = Path(tmp)
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
        arec = ""
        if has_age:
            subprocess.run(["age-keygen", "-o", str(d / "a.key")], check=True, capture_output=True)
            arec = (
                subprocess.run(
                    ["age-keygen", "-y", str(d / "a.key")], check=True, capture_output=True
                )
                .stdout.decode()
                .strip()
            )
        for size in sizes:
            src = d / f"data{size >> 20}.bin"
            _file(src, size)
            if has_age:
                cli = _cli_vs_age(d, src, veil, env, rec, arec)
            else:
                cli = {
                    "veil_seal": run_measured(
                        [*veil, "seal", "-r", rec, str(src), "-o", str(d / "s.veil")], env=env
                    )
                }
            mib = size >> 20
            for r in cli.values():
                r["MiB_per_s"] = round(mib / r["seconds"], 1) if r["seconds"] else None
            ratios = {}
            if has_age:
                for verb, age_verb in (("seal", "encrypt"), ("open", "decrypt")):
                    for where in ("", "_to_devnull"):
                        ratios[f"veil_{verb}{where}_throughput_vs_age"] = round(
                            cli[f"age_{age_verb}{where}"]["seconds"]
                            / cli[f"veil_{verb}{where}"]["seconds"],
                            2,
                        )
            per_size[f"{mib}MiB"] = {"size_bytes": size, "cli": cli, "ratios": ratios}
            if size == sizes[-1]:
                # the other rows, at the largest size only
                rows["cp"] = run_measured(["cp", str(src), str(d / "copy.bin")])
                rows.update(_raw_aesgcm(size))
                rows.update(_api_rows(src, d / "api.veil"))
                if shutil.which("gpg"):
                    rows.update(_gpg_rows(d, src))
                for r in rows.values():
                    r["MiB_per_s"] = round(mib / r["seconds"], 1) if r["seconds"] else None
            src.unlink()
    ratios_all = {f"{k}_{name}": v for k, s in per_size.items() for name, v in s["ratios"].items()}
    targets = {"throughput_vs_age_min": 2.0, "peak_rss_mib_max": 64}
    met = bool(ratios_all) and min(ratios_all.values()) >= targets["throughput_vs_age_min"]
    path = write_result(
        "seal",
        {
            "sizes": per_size,
            "ratios": ratios_all,
            "rows_at_largest_size": rows,
            "targets": targets,
            "targets_met": met,
            "note": "CLI rows: median of 3 runs, veil and age alternating; other rows: best of 3",
        },
    )
    print(f"{'tool':36} {'s':>7} {'MiB/s':>8} {'peak RSS MiB':>13}")
    for label, s in per_size.items():
        print(f"-- {label}")
        for name, r in s["cli"].items():
            print(f"{name:36} {r['seconds']:7.2f} {r['MiB_per_s']:8.0f} {r['peak_rss_mib']:>13}")
    print(f"-- {sizes[-1] >> 20}MiB, other rows")
    for name, r in rows.items():
        print(f"{name:36} {r['seconds']:7.2f} {r['MiB_per_s']:8.0f} {r['peak_rss_mib'] or '-':>13}")
    print(ratios_all, "->", path)


def _gpg_rows(d: Path, src: Path) -> dict:
    gh = d / "gnupg"
    gh.mkdir(mode=0o700, exist_ok=True)
    gpg = ["gpg", "--homedir", str(gh), "--batch", "--yes", "--pinentry-mode", "loopback"]
    gpg += ["--passphrase", "bench"]
    enc = [*gpg, "--symmetric", "--cipher-algo", "AES256", "--compress-algo", "none"]
    return {
        "gpg_symmetric_encrypt": run_measured([*enc, "-o", str(d / "s.gpg"), str(src)]),
        "gpg_decrypt": run_measured([*gpg, "-d", "-o", str(d / "o3.bin"), str(d / "s.gpg")]),
    }


if __name__ == "__main__":
    main()
