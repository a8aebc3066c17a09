"""docs/ARCHITECTURE.md matches the code: every path it names exists, every public name its module table
gives a file is defined (or imported) at that file's top level, and every module of a model folder and
every module and subpackage of `common/` is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
MODEL_FOLDERS = ("tacotron2", "waveglow", "hifigan", "vits")
# a repository path: folders and a file with a known ending, or a folder with a trailing slash
PATH_RE = re.compile(r"(?<![\w./-])((?:[A-Za-z_][\w.-]*/)+(?:[\w.*-]+\.(?:py|md|json|sh|ids))?)(?![\w/])")
IDENT_RE = re.compile(r"^[A-Za-z_]\w*$")


def doc_paths(text: str) -> set[str]:
    """The repository paths the document names (in backticks, tables and the layer diagram)."""
    return {m.group(1) for m in PATH_RE.finditer(text)}


def top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def module_rows(text: str) -> list[tuple[str, list[str]]]:
    """(file, public names) of the module table's rows whose first cell is one ``.py`` file."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            continue
        files = re.findall(r"`([^`]+)`", cells[0])
        if len(files) != 1 or not files[0].endswith(".py"):
            continue
        names = [n for n in re.findall(r"`([^`]+)`", cells[2]) if IDENT_RE.match(n)]
        rows.append((files[0], names))
    return rows


def test_the_path_pattern_finds_paths_and_only_paths() -> None:
    found = doc_paths("`common/audio.py` and common/datasets/ (see `tests/import_layers.py`), "
                      "`common/splits/ljspeech/*.ids`, not `python -m x`, `NAME.onnx` or `a|b`; vits/ too")
    assert found == {"common/audio.py", "common/datasets/", "tests/import_layers.py",
                     "common/splits/ljspeech/*.ids", "vits/"}


def test_every_path_in_the_document_exists() -> None:
    paths = doc_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 50  # the pattern reads the document at all
    missing = sorted(p for p in paths if not any(ROOT.glob(p.rstrip("/"))))
    assert missing == []


def test_every_public_name_in_the_module_table_is_defined_there() -> None:
    rows = module_rows(DOC.read_text(encoding="utf-8"))
    assert len(rows) > 40
    missing = [f"{file}: {name}" for file, names in rows for name in names
               if name not in top_level_names(ROOT / file)]
    assert missing == []


@pytest.mark.parametrize("folder", MODEL_FOLDERS)
def test_every_module_of_a_model_folder_is_named(folder: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"{folder}/" in text
    unnamed = sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).glob("*.py")
                     if p.name != "__init__.py" and str(p.relative_to(ROOT)) not in text)
    assert unnamed == []


def test_every_module_and_subpackage_of_common_is_named() -> None:
    text = DOC.read_text(encoding="utf-8")
    entries = [p for p in (ROOT / "common").iterdir()
               if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()]
    unnamed = sorted(p.name for p in entries
                     if f"common/{p.name}{'/' if p.is_dir() else ''}" not in text)
    assert len(entries) > 20 and unnamed == []
