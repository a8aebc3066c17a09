"""The shared core names no model: no model name, no parameter name of a model, no model-only flag.

The core is every module tests/import_layers.py puts in the core layer (`common/` less its pipelines).
Models reach the trainer through their recipes (common/training/recipe.py), so nothing in the core has to
know them by string.
"""

from __future__ import annotations

import re
from pathlib import Path

import import_layers as layers
import pytest

from common.arg_parser import training_parser
from common.models import MODELS, build_model, get_model_spec
from tacotron2.finetune import DECODER_MEMORY_INPUTS, EMBEDDING_KEY, LANGUAGE_ROWS, SPEAKER_ROWS

MODEL_WORDS = re.compile(r"tacotron|waveglow|hifi-?gan|\bvits\b", re.IGNORECASE)


def model_names() -> list[str]:
    return sorted(MODELS)


def parameter_names() -> set[str]:
    """Every parameter and buffer name of the registered models (tiny configurations), and the conditioned
    Tacotron 2's extra tables."""
    names = {EMBEDDING_KEY, *DECODER_MEMORY_INPUTS, *SPEAKER_ROWS, *LANGUAGE_ROWS}
    for name in MODELS:
        spec = get_model_spec(name)
        args = spec.add_arguments(training_parser(add_help=False)).parse_args(list(spec.tiny_flags))
        names.update(build_model(spec, spec.model_config(args), uniform_bn=False).state_dict())
    return names


def model_only_flags() -> dict[str, list[str]]:
    """dest -> option strings of every flag a model's parser adds to the general ones."""
    general = training_parser(add_help=False)
    general_dests = {action.dest for action in general._actions}
    flags: dict[str, list[str]] = {}
    for name in MODELS:
        parser = get_model_spec(name).add_arguments(training_parser(add_help=False))
        for action in parser._actions:
            if action.dest not in general_dests:
                flags[action.dest] = [o for o in action.option_strings if o.startswith("--")]
    return flags


def findings(sources: dict[str, str], models: list[str], params: set[str],
             flags: dict[str, list[str]]) -> list[str]:
    """`module:line: what` for every model name, parameter name and model-only flag in `sources`."""
    tops = sorted({name.split(".", 1)[0] for name in params})
    patterns = [("model", MODEL_WORDS)]
    patterns += [("model", re.compile(rf"\b{re.escape(m)}\b")) for m in models]
    patterns += [("parameter", re.compile(re.escape(p))) for p in sorted(params) if "." in p]
    patterns += [("parameter", re.compile(rf"\b{re.escape(top)}\.[A-Za-z_]")) for top in tops]
    for dest, options in sorted(flags.items()):
        patterns += [("flag", re.compile(rf"{re.escape(option)}(?![\w-])")) for option in options]
        patterns += [("flag", re.compile(rf"args\.{dest}\b")),
                     ("flag", re.compile(rf"getattr\(\s*\w+,\s*[\"']{dest}[\"']"))]
    out = []
    for module, text in sorted(sources.items()):
        for number, line in enumerate(text.splitlines(), 1):
            for kind, pattern in patterns:
                if pattern.search(line):
                    out.append(f"{module}:{number}: {kind} {pattern.pattern!r}: {line.strip()}")
    return out


def core_sources() -> dict[str, str]:
    graph = layers.build_graph()
    return {module: Path(path).read_text() for module, path in graph.files.items()
            if layers.layer_of(module) == layers.CORE}


@pytest.fixture(scope="module")
def vocabulary() -> tuple[list[str], set[str], dict[str, list[str]]]:
    return model_names(), parameter_names(), model_only_flags()


def test_core_names_no_model(vocabulary) -> None:
    sources = core_sources()
    assert "common.training.loop" in sources and "common.models" not in sources
    found = findings(sources, *vocabulary)
    assert not found, "\n".join(found)


def test_the_scan_finds_each_kind(vocabulary) -> None:
    """The scan can fail: a model name, a parameter name and a model-only flag are each found."""
    sources = {"fake": 'x = "WaveGlow"\nk = "decoder.attention_rnn.weight_ih"\nargs.decoder_impl\n'
                       'p.add("--guided-attention-weight")\ngetattr(args, "val_mcd_utterances", 0)\n'}
    found = findings(sources, *vocabulary)
    lines = sorted({f.split(":")[1] for f in found})
    assert lines == ["1", "2", "3", "4", "5"], found
