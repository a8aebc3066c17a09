"""Imports run one way: no loops between modules, no import against the layers, and function-local imports
only where they defer a heavy optional dependency (tests/import_layers.py reads the graph)."""

from __future__ import annotations

import import_layers as layers


def test_no_import_loops() -> None:
    cycles = layers.build_graph().cycles()
    assert not cycles, f"import loops: {cycles}"


def test_imports_follow_the_layers() -> None:
    violations = layers.build_graph().violations()
    assert not violations, "\n".join(violations)


def test_function_local_imports_are_marked_deferred() -> None:
    unmarked = [f"{m}:{line} {name}" for m, line, name, noted in layers.build_graph().local_imports
                if not noted]
    assert not unmarked, "\n".join(unmarked)


def test_the_checker_sees_loops_and_layer_breaks(tmp_path) -> None:
    """The checks can fail: a loop, a core module importing a model, a model importing a pipeline or another
    model's private name, and an unmarked function-local import are all found."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("")
    (tmp_path / "common" / "a.py").write_text("import common.b\nimport toy.model\n")
    (tmp_path / "common" / "b.py").write_text("def f():\n    import common.a\n")
    (tmp_path / "common" / "synthesis.py").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "__init__.py").write_text("")
    (tmp_path / "other" / "blocks.py").write_text("def _helper():\n    pass\n")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "__init__.py").write_text("")
    (tmp_path / "toy" / "model.py").write_text(
        "from common import synthesis\nfrom other.blocks import _helper\n\ndef g():\n"
        "    # deferred: heavy optional dependency\n    import onnx\n")
    graph = layers.build_graph(tmp_path)
    assert graph.cycles() == [["common.a", "common.b"]]
    assert graph.violations() == ["common.a (core) -> toy.model (model) line 2",
                                  "toy.model (model) -> common.synthesis (pipeline) line 1",
                                  "toy.model (model) -> other.blocks._helper (another model's private name) "
                                  "line 2"]
    marked = [(m, noted) for m, _, _, noted in graph.local_imports]
    assert marked == [("common.b", False), ("toy.model", True)]
