"""How high vaelab's imports stack: each module's floor, counted from its imports.

A module that imports no other vaelab module is on floor 1; any other module is one
floor above the highest module it imports (imports inside functions count too: they
are dependencies all the same). The package facade `vaelab/__init__.py` is left out.

    python scripts/import_floors.py [--src src] [--packages] [--chain]

Prints the number of floors, each module's floor and, with --chain, the longest chain
of imports. --packages counts the floors of the top-level parts instead: a folder
(vaelab.models) or a top-level module (vaelab.cli), imports inside a part left out. tests/test_architecture.py uses `import_graph` to check the layers.
"""

from __future__ import annotations

import argparse
import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "vaelab"


def module_name(path: Path, src: Path) -> str:
    """src/vaelab/models/vae.py -> vaelab.models.vae; a package's __init__.py -> the package."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, modules: set[str]) -> set[str]:
    """The vaelab modules a parsed file imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` imports the submodule; `from pkg import name`, the package
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def import_graph(src: str | Path = "src") -> dict[str, set[str]]:
    """{module: the vaelab modules it imports}, for every module under src/vaelab."""
    src = Path(src)
    files = {module_name(p, src): p for p in sorted((src / PACKAGE).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        graph[name] = imported_modules(ast.parse(path.read_text()), set(files)) - {name}
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between the top-level parts (vaelab.models.vae -> vaelab.models)."""
    part = lambda name: ".".join(name.split(".")[:2])  # noqa: E731
    out: dict[str, set[str]] = {}
    for name, deps in graph.items():
        out.setdefault(part(name), set()).update(part(d) for d in deps if part(d) != part(name))
    return out


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor (1 + the highest floor it imports); a cycle is a ValueError."""
    visiting: set[str] = set()

    @lru_cache(maxsize=None)
    def floor(name: str) -> int:
        if name in visiting:
            raise ValueError(f"import cycle through {name}")
        visiting.add(name)
        result = 1 + max((floor(d) for d in graph[name]), default=0)
        visiting.discard(name)
        return result

    return {name: floor(name) for name in graph if name != PACKAGE}


def longest_chain(graph: dict[str, set[str]], floor_of: dict[str, int]) -> list[str]:
    """The modules of one highest chain of imports, top first."""
    name = max(floor_of, key=floor_of.get)
    chain = [name]
    while graph[name]:
        name = max(graph[name], key=lambda d: floor_of.get(d, 0))
        chain.append(name)
    return chain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    parser.add_argument("--chain", action="store_true", help="print the longest chain of imports")
    parser.add_argument("--packages", action="store_true", help="floors of the top-level parts (folders and modules)")
    args = parser.parse_args()
    graph = import_graph(args.src)
    if args.packages:
        graph = package_graph(graph)
    floor_of = floors(graph)
    print(f"{max(floor_of.values())} floors, {len(floor_of)} modules")
    for name in sorted(floor_of, key=lambda n: (-floor_of[n], n)):
        print(f"  {floor_of[name]:>2}  {name}")
    if args.chain:
        print("longest chain: " + " -> ".join(longest_chain(graph, floor_of)))


if __name__ == "__main__":
    main()
