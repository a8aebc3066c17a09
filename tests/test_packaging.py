"""Files that cannot run here (Docker) or are glue (shell scripts) are still checked: syntax and structure."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "WORKDIR", "COPY", "ADD", "CMD", "ENTRYPOINT", "EXPOSE",
                "LABEL", "USER", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD"}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word, rest.strip()))
    return out


def test_dockerfile_is_well_formed():
    steps = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    assert all(word in INSTRUCTIONS for word, _ in steps), [w for w, _ in steps if w not in INSTRUCTIONS]
    words = [w for w, _ in steps]
    assert words[words.index("FROM") - 1] == "ARG" and words.index("FROM") <= 1
    arg = dict(s.split("=", 1) for w, s in steps if w == "ARG")
    assert arg["FROM_IMAGE_NAME"].split("/")[-1].startswith("pytorch:")
    run = " ".join(s for w, s in steps if w == "RUN")
    assert "espeak-ng" in run and "-c /tmp/torch-constraint.txt" in run and "pip install" in run
    assert any(w == "COPY" for w in words) and words[-1] == "CMD"


@pytest.mark.parametrize("script", sorted(str(p.relative_to(ROOT)) for p in [
    *ROOT.glob("scripts/**/*.sh"), *ROOT.glob("docker/*.sh"), ROOT / ".ci/run"]))
def test_shell_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (ROOT / script).read_text().startswith("#!/usr/bin/env bash")


def test_shellcheck_is_clean_where_available():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    scripts = [str(p) for p in [*ROOT.glob("scripts/**/*.sh"), *ROOT.glob("docker/*.sh")]]
    result = subprocess.run(["shellcheck", "-S", "warning", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
