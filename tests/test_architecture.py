"""The house's rules, checked on the source: imports point one way, nothing probes a model
for attributes, no top-level module belongs in a folder, no function runs long."""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
spec = importlib.util.spec_from_file_location("import_floors", ROOT / "scripts" / "import_floors.py")
import_floors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_floors)

# Each part's rank: a part imports only parts of lower rank (docs/architecture.md).
RANK = {
    "vaelab.errors": 0, "vaelab.files": 0, "vaelab.version": 0, "vaelab.crashpoints": 0,
    "vaelab.config": 1, "vaelab.nn": 1, "vaelab.run_files": 1,
    "vaelab.data": 2,
    "vaelab.models": 3,
    "vaelab.training": 4,
    "vaelab.evaluation": 5,
    "vaelab.plots": 6,
    "vaelab.runs": 7,
    "vaelab.report": 8,
    "vaelab.explore": 8,  # the latent explorer: beside the report, both read runs
    "vaelab.cli": 9,
    "vaelab.quantizers": 10,  # the quantizer layers under their short names (VQ, FSQ, ...): a facade
    "vaelab": 10,  # the package's facade: load, train, ...
    "vaelab.__main__": 10,  # python -m vaelab: the command
}
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "cli.py", "config.py", "crashpoints.py", "errors.py", "files.py",
                     "quantizers.py", "run_files.py", "version.py"}
MAX_FUNCTION_LINES = 60


def source_files():
    return sorted((SRC / "vaelab").rglob("*.py"))


def test_every_part_has_a_rank():
    assert set(import_floors.package_graph(import_floors.import_graph(SRC))) == set(RANK)


def test_imports_point_one_way():
    graph = import_floors.package_graph(import_floors.import_graph(SRC))
    upward = sorted(f"{part} imports {dep}" for part, deps in graph.items() for dep in deps if RANK[dep] >= RANK[part])
    assert not upward, upward


def test_the_import_graph_sees_imports_inside_functions():
    graph = import_floors.import_graph(SRC)
    assert "vaelab.runs" in graph["vaelab.cli"] or any(d.startswith("vaelab.runs") for d in graph["vaelab.cli"])


def test_no_code_probes_a_model_for_attributes():
    probes = [f"{p.relative_to(SRC)}:{node.lineno}" for p in source_files() for node in ast.walk(ast.parse(p.read_text()))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")]
    assert not probes, f"ask a model through the capabilities it declares (models/base.py): {probes}"


def test_no_top_level_module_belongs_in_a_folder():
    assert {p.name for p in (SRC / "vaelab").glob("*.py")} == TOP_LEVEL_MODULES


def test_no_function_runs_long():
    long = [f"{p.relative_to(SRC)}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for p in source_files() for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def test_the_packages_export_every_model_and_quantizer_of_the_family():
    import vaelab.models as models
    from vaelab.models.quantizers import QUANTIZERS

    for name, (model, config) in models.MODELS.items():
        assert {model.__name__, config.__name__} <= set(models.__all__), name
        assert vars(models)[model.__name__] is model and vars(models)[config.__name__] is config
    import vaelab.models.quantizers as family
    assert {q.__name__ for q in QUANTIZERS.values()} <= set(family.__all__)
