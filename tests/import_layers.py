"""The suite's import graph, read with `ast` (nothing is imported): modules, their layers, edges, loops.

Four layers, each importing only the layers below it (docs/ARCHITECTURE.md):

0. core: `common/` (shared utilities and the trainer), except the pipelines and entry points listed below;
1. model: every other top-level package (`tacotron2/`, `waveglow/`, and the models that come later);
2. pipeline: the subpackages and modules of `common/` named in `PIPELINES`;
3. entry: `run.py`, `train.py`, `inference.py`, `multiproc.py`, `hubconf.py`, `scripts/`, and `ENTRY_MODULES`.

A model may import another model's public modules, never in a loop. Function-local imports are counted as
edges too (a loop held together by an import inside a function is still a loop), and each one must carry a
``# deferred:`` comment saying which heavy optional dependency it defers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE, MODEL, PIPELINE, ENTRY = 0, 1, 2, 3
LAYER_NAMES = {CORE: "core", MODEL: "model", PIPELINE: "pipeline", ENTRY: "entry point"}

# modules (and everything below them) of `common/` that are pipelines: they may import models
PIPELINES = (
    "common.models",  # the registry: the one list of model folders
    "common.synthesis",
    "common.export",
    "common.benchmarks",
    "common.evaluation",
    "common.data_tools",
    "common.corpus",  # the `python -m` names of the README (they import common.data_tools)
    "common.prepare_mels",
    "common.dataset_split",
    "common.datasets",
    "common.quickstart",
    "common.benchmark_infer",
    "common.benchmark_train",
)
# programs inside `common/` that drive the entry points themselves
ENTRY_MODULES = ("common.gpu_check",)
ENTRY_FILES = ("run.py", "train.py", "inference.py", "multiproc.py", "hubconf.py")
NOT_PACKAGES = ("tests", "scripts", "docs", "docker", "filelists", "phrases", "build")
DEFERRED = "# deferred:"


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_of(module: str) -> int:
    """The layer of a dotted module name."""
    top = module.split(".", 1)[0]
    if _under(module, ENTRY_MODULES) or top == "scripts" or f"{top}.py" in ENTRY_FILES:
        return ENTRY
    if top == "common":
        return PIPELINE if _under(module, PIPELINES) else CORE
    return MODEL


@dataclass
class ImportGraph:
    """Modules (dotted name -> file), in-suite edges, and the function-local imports."""

    files: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, dict[str, int]] = field(default_factory=dict)  # module -> {imported module: line}
    local_imports: list[tuple[str, int, str, bool]] = field(default_factory=list)  # (module, line, name,
    # has the deferred comment)
    private: list[tuple[str, int, str]] = field(default_factory=list)  # (module, line, private name) that
    # one model imports from another

    def resolve(self, name: str) -> str | None:
        """The suite module an import of `name` loads (a name imported from a module maps to the module)."""
        while name and name not in self.files:
            name = name.rpartition(".")[0]
        return name or None

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan, iterative)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []
        counter = 0
        for start in sorted(self.files):
            if start in index:
                continue
            work = [(start, iter(sorted(self.edges.get(start, {}))))]
            index[start] = low[start] = counter
            counter += 1
            stack.append(start)
            on_stack.add(start)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is not None:
                    if child not in index:
                        index[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(sorted(self.edges.get(child, {})))))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
        return found

    def violations(self) -> list[str]:
        """Imports against the layers: `importer (layer) -> imported (layer) line N`."""
        out = []
        for module, targets in sorted(self.edges.items()):
            mine = layer_of(module)
            for target, line in sorted(targets.items()):
                theirs = layer_of(target)
                if theirs > mine or (mine == CORE and theirs == MODEL):
                    out.append(f"{module} ({LAYER_NAMES[mine]}) -> {target} ({LAYER_NAMES[theirs]}) "
                               f"line {line}")
        out += [f"{module} (model) -> {name} (another model's private name) line {line}"
                for module, line, name in self.private]
        return out


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the suite: the packages at the top level, the entry points and `scripts/*.py`."""
    files: dict[str, Path] = {}
    for package in sorted(p.parent for p in root.glob("*/__init__.py")):
        if package.name in NOT_PACKAGES or package.name.startswith("."):
            continue
        for path in sorted(package.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    for name in ENTRY_FILES:
        if (root / name).exists():
            files[name[:-3]] = root / name
    for path in sorted((root / "scripts").glob("*.py")):
        files[f"scripts.{path.stem}"] = path
    return files


def _imported_names(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    return [name] + [f"{name}.{alias.name}" for alias in node.names]


def build_graph(root: Path = ROOT) -> ImportGraph:
    """Parse every module and collect its imports (top-level and function-local)."""
    graph = ImportGraph(files=module_files(root))
    for module, path in graph.files.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, str(path))
        local = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                local.update(id(sub) for sub in ast.walk(node)
                             if isinstance(sub, (ast.Import, ast.ImportFrom)))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported_names(module, path, node)
            for name in names:
                target = graph.resolve(name)
                if target is not None and target != module:
                    graph.edges.setdefault(module, {}).setdefault(target, node.lineno)
                    top, other = module.split(".", 1)[0], target.split(".", 1)[0]
                    private = any(part.startswith("_") and part != "__init__" for part in name.split("."))
                    if (private and top != other and layer_of(module) == MODEL
                            and layer_of(target) == MODEL):
                        graph.private.append((module, node.lineno, name))
            if id(node) in local:
                above = lines[node.lineno - 2] if node.lineno >= 2 else ""
                noted = DEFERRED in lines[node.lineno - 1] or above.strip().startswith(DEFERRED)
                graph.local_imports.append((module, node.lineno, names[0], noted))
    return graph
