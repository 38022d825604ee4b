"""Imports run one way (docs/architecture.md, *Layers*): each layer may import the layers
below it, never one above, and no module imports itself back through others.

grimp parses every import statement, including those inside functions and under
``TYPE_CHECKING``, so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import grimp
import pytest

#: top to bottom; a set is one layer of independent packages (they may not import each other)
LAYERS: list[str | set[str]] = [
    "veil.__main__",  # ``python -m veil``: runs the command line
    "veil.cli",
    "veil.scenarios",
    {"veil.fl", "veil.vertical"},  # horizontal and vertical FL never import each other
    "veil.edge",  # the device client: aggregation's client side, never fl (no torch)
    "veil.aggregation",
    "veil.audit",
    {"veil.zk", "veil.vdaf", "veil.jwe"},
    "veil.crypto",
    {"veil.faults", "veil.errors"},
]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("veil")


def test_every_package_has_a_layer(graph: grimp.ImportGraph) -> None:
    named = {p for layer in LAYERS for p in ([layer] if isinstance(layer, str) else layer)}
    top = {m for m in graph.modules if m.count(".") == 1}
    assert top == named, f"place these in LAYERS: {sorted(top - named)}"


def test_no_import_runs_upward(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS)
    arrows = sorted(
        f"{r_head} -> {r_tail}"
        for d in illegal
        for route in d.routes
        for r_head in route.heads
        for r_tail in route.tails
    )
    assert not arrows, "imports that run upward:\n" + "\n".join(arrows)


def _imports(graph: grimp.ImportGraph, module: str) -> list[str]:
    """What ``module`` imports, less its own submodules: a package's ``__init__`` that
    re-exports its children contains them; that is not a cycle between concepts."""
    inside = module + "."
    return sorted(
        m for m in graph.find_modules_directly_imported_by(module) if not m.startswith(inside)
    )


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(_imports(graph, root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(_imports(graph, child))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_module_imports_itself_back() -> None:
    """Runtime imports only: an ``if TYPE_CHECKING:`` import never executes, so it is how a
    helper module names its caller's types without a cycle (e.g. ``vdaf.ntt`` → ``Field``)."""
    cycles = _cycles(grimp.build_graph("veil", exclude_type_checking_imports=True))
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_see_a_cycle_and_an_upward_arrow() -> None:
    """The checks above are not vacuous: a made-up graph with both is caught."""
    g = grimp.ImportGraph()
    for m in ("veil", "veil.fl", "veil.fl.a", "veil.crypto", "veil.crypto.b", "veil.crypto.c"):
        g.add_module(m)
    g.add_import(importer="veil.crypto.b", imported="veil.fl.a")
    g.add_import(importer="veil.crypto.b", imported="veil.crypto.c")
    g.add_import(importer="veil.crypto.c", imported="veil.crypto.b")
    assert g.find_illegal_dependencies_for_layers(layers=["veil.fl", "veil.crypto"])
    assert _cycles(g) == [["veil.crypto.b", "veil.crypto.c"]]
