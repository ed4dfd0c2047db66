"""The README's promises: two set-up commands, CI runs the second, its Python example runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.*?)\n```", README, re.DOTALL)
    assert match, f"README.md has no sh block after <!-- {marker} -->"
    return match.group(1)


def test_the_readme_gives_exactly_two_set_up_commands_each_on_one_line() -> None:
    for marker in ("main-command", "test-command"):
        command = _block_after(marker)
        assert "\n" not in command
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ")
    assert README.count("<!-- main-command -->") == README.count("<!-- test-command -->") == 1


def test_installs_pin_torch_while_the_extras_keep_a_range() -> None:
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=2.1"' in pyproject and "torch==" not in pyproject


def test_ci_runs_the_readmes_test_command() -> None:
    script = (
        "awk '/<!-- test-command -->/{grab=1; next} grab && /^```/{if (started) exit; started=1; next} "
        "grab && started' README.md"
    )
    # The same extraction .ci/run performs, so an edit to either is caught here.
    assert script.split("'")[1] in (ROOT / ".ci/run").read_text()
    out = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _block_after("test-command")


def test_the_readmes_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks, "README.md has a Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
