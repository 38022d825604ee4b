"""Imports sit at the top of a module; one inside a function is a deliberate lazy load and
says why, in a comment starting ``# lazy:`` (issue 14.3, docs/architecture.md).

The comment goes on the import's line or the line above; for a multi-line
``from x import (...)`` on its first line or the line above. A run of consecutive import
statements (one block, blank lines allowed) may share the comment above its first statement.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

MARK = "# lazy:"
_IMPORT = (ast.Import, ast.ImportFrom)
_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _marked(lines: list[str], lineno: int) -> bool:
    """A ``# lazy:`` comment on line ``lineno`` (1-based) or the line above."""
    here = lines[lineno - 1]
    above = lines[lineno - 2] if lineno >= 2 else ""
    return MARK in here or above.lstrip().startswith(MARK)


def _names(node: ast.Import | ast.ImportFrom) -> str:
    if isinstance(node, ast.Import):
        return ", ".join(a.name for a in node.names)
    return "." * node.level + (node.module or "")


def unexplained(source: str, name: str = "<snippet>") -> list[str]:
    """``name:line module`` for each import inside a function body without a reason."""
    lines = source.splitlines()
    out: list[str] = []

    def body_runs(stmts: list[ast.stmt]) -> None:
        run: list[ast.Import | ast.ImportFrom] = []
        for stmt in [*stmts, None]:
            if isinstance(stmt, _IMPORT):
                run.append(stmt)
                continue
            if run and not _marked(lines, run[0].lineno):
                out.extend(
                    f"{name}:{n.lineno} {_names(n)}" for n in run if not _marked(lines, n.lineno)
                )
            run = []

    def visit(node: ast.AST, in_function: bool) -> None:
        inside = in_function or isinstance(node, _FUNCTION)
        if inside:
            for field in ("body", "orelse", "finalbody", "handlers"):
                stmts = getattr(node, field, None)
                if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                    body_runs(stmts)
            for case in getattr(node, "cases", []):
                body_runs(case.body)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source), False)
    return sorted(set(out), key=lambda s: (s.split(" ")[0].rsplit(":", 1)[0], _line(s)))


def _line(entry: str) -> int:
    return int(entry.split(" ")[0].rsplit(":", 1)[1])


def test_every_import_inside_a_function_says_why() -> None:
    root = SRC.parent
    files = sorted(SRC.joinpath("veil").rglob("*.py"))
    assert len(files) > 50, "found too few modules to be veil's source"
    bad: list[str] = []
    for f in files:
        bad += unexplained(f.read_text(encoding="utf-8"), f.relative_to(root).as_posix())
    assert not bad, (
        "imports inside functions without a `# lazy:` reason (move them to the top, or say "
        "why they wait):\n" + "\n".join(bad)
    )


def test_the_check_sees_an_unexplained_import() -> None:
    """Not vacuous: a made-up module with every case is judged line by line."""
    snippet = """\
import os


def top_level_is_fine():
    return os


def bare():
    import json
    return json


def explained():
    import torch  # lazy: torch (about 1 s) only for training
    # lazy: flwr is an optional extra
    import flwr
    return torch, flwr


def block():
    # lazy: the Helper's stack is only needed to serve
    import uvicorn

    from veil.aggregation.service import create_app
    return uvicorn, create_app


def multiline():
    from veil.crypto.keys import (  # lazy: cryptography, not for --help
        load_identities,
    )
    from veil.crypto.seal import (
        MAGIC,
    )
    return load_identities, MAGIC


class Holder:
    def method(self):
        if self:
            from veil import errors
        else:
            x = 1
            from veil import faults
        return errors, faults, x


lam = lambda: __import__("os")
"""
    assert unexplained(snippet) == [
        "<snippet>:9 json",
        "<snippet>:41 veil",
        "<snippet>:44 veil",
    ]
