"""The dependency table of docs/architecture.md, checked against every import in src/guardia.

The table is read from the document itself, so the document and the code cannot disagree: a
module that imports a package its layer may not fails here, and so does a new package without a
row. Type-only imports (``if TYPE_CHECKING:``) and imports inside functions count: they are
dependencies all the same. Import cycles between modules fail too.

The exceptions are listed here and nowhere else, each with its reason. One that no longer matches
an import fails as well, so whoever removes a violation removes its line.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DOC = REPO / "docs" / "architecture.md"


@dataclass(frozen=True)
class Exception_:
    importer: str  # a module, or a package: every module under it
    imported: str  # a module or package prefix of what it imports
    reason: str


# Imports a layer may not make, allowed here with the reason (and who removes it, if anyone).
EXCEPTIONS: tuple[Exception_, ...] = (
    Exception_(
        "guardia.config.rulefile",
        "guardia.promql",
        "a rule file that loads must be one the engine runs: rule expressions are parsed and "
        "typed by the engine's own parser, imported lazily when a rule file is checked "
        "(permanent)",
    ),
    Exception_(
        "guardia.storage.remote",
        "guardia.config",
        "remote write out and remote read follow the `remote_write:`/`remote_read:` sections and "
        "build their HTTP clients with the one factory `config.httpclient.new_client`, as "
        "Prometheus's storage/remote reads its config package (permanent)",
    ),
)

# Import cycles between modules (strongly connected sets), allowed with the reason.
CYCLES: dict[frozenset[str], str] = {}


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    package: str
    guardia: frozenset[str]  # guardia packages it may import
    third_party: frozenset[str] | None  # None: any; else only these (and the standard library)


def read_table(text: str) -> list[Layer]:
    """Rows of the ``| package | one job | may import |`` table, in order."""
    rows: list[tuple[str, str]] = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("| package | one job | may import |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.fullmatch(r"`(\w+)`", cells[0])
            if m is not None:
                rows.append((m.group(1), cells[-1]))
    names = [name for name, _ in rows]
    layers = []
    for i, (name, cell) in enumerate(rows):
        guardia: set[str] = set()
        third: set[str] = set()
        for token in (t.strip().strip("`") for t in cell.split(",")):
            if token == "everything":
                guardia |= set(names)
            elif token == "everything above":
                guardia |= set(names[:i])
            elif token in names:
                guardia.add(token)
            elif token and token != "stdlib":
                third.add(token)
        guardia.discard(name)
        layers.append(Layer(name, frozenset(guardia), frozenset(third) if third else None))
    return layers


# -- the imports ------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "guardia").rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every module (guardia or not) ``name`` imports, with its line; a ``from X import y`` of
    a guardia submodule ``y`` counts as importing ``X.y``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            yield from ((s, node.lineno) for s in subs)
            if len(subs) < len(node.names):
                yield mod, node.lineno


def package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def owning_module(imported: str, known: set[str]) -> str | None:
    m = imported
    while m and m not in known:
        m = m.rpartition(".")[0]
    return m or None


def _covered(importer: str, imported: str, used: set[Exception_]) -> bool:
    for e in EXCEPTIONS:
        if (importer == e.importer or importer.startswith(e.importer + ".")) and (
            imported == e.imported or imported.startswith(e.imported + ".")
        ):
            used.add(e)
            return True
    return False


# -- the tests --------------------------------------------------------------------------------


def test_every_import_is_one_its_layer_may_make() -> None:
    layers = {layer.package: layer for layer in read_table(DOC.read_text())}
    assert {"model", "storage", "web", "server"} <= set(layers), "dependency table not found"
    mods = modules()
    known = set(mods)
    problems: list[str] = []
    used: set[Exception_] = set()
    for name, path in mods.items():
        pkg = package_of(name)
        if not pkg:
            continue
        layer = layers.get(pkg)
        if layer is None:
            problems.append(f"{name}: package `{pkg}` has no row in docs/architecture.md's table")
            continue
        where = path.relative_to(REPO)
        for imported, line in imports(name, path, known):
            top = imported.split(".")[0]
            if top == "guardia":
                target = package_of(imported)
                if not target or target == pkg or target in layer.guardia:
                    continue
                if not _covered(name, imported, used):
                    problems.append(f"{where}:{line}: `{pkg}` may not import `{target}` ({imported})")
            elif (
                layer.third_party is not None
                and top not in sys.stdlib_module_names
                and top not in layer.third_party
                and not _covered(name, imported, used)
            ):
                problems.append(f"{where}:{line}: `{pkg}` may import only the standard library and "
                                f"{', '.join(sorted(layer.third_party))}, not {top}")
    stale = [e for e in EXCEPTIONS if e not in used]
    problems += [f"exception no longer needed, remove it: {e.importer} -> {e.imported}" for e in stale]
    assert not problems, "\n".join(problems)


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_modules_import_each_other_without_cycles() -> None:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for imported, _ in imports(name, path, known):
            target = owning_module(imported, known) if imported.startswith("guardia") else None
            # a module importing its own package's __init__ (or an ancestor's) is not a cycle
            if target is not None and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    found = _cycles(graph)
    unexpected = [sorted(c) for c in found if c not in CYCLES]
    stale = [sorted(c) for c in CYCLES if c not in found]
    assert not unexpected, f"import cycles (break them, e.g. with a protocol in a lower module): {unexpected}"
    assert not stale, f"cycles no longer there, remove them from CYCLES: {stale}"


def test_the_table_reader_understands_every_form_of_row() -> None:
    text = """
| package | one job | may import |
|---|---|---|
| `model` | x | stdlib, numpy |
| `storage` | x | `model` |
| `web` | x | everything above |
| `cli` | x | everything |
"""
    layers = {layer.package: layer for layer in read_table(text)}
    assert layers["model"].guardia == frozenset() and layers["model"].third_party == {"numpy"}
    assert layers["storage"].guardia == {"model"} and layers["storage"].third_party is None
    assert layers["web"].guardia == {"model", "storage"}
    assert layers["cli"].guardia == {"model", "storage", "web"}
