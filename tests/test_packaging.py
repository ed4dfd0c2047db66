"""What a user gets from an installed gradcheck-xor, away from this repository: the sdist and
the wheel hold what they should, the wheel installed in a fresh environment runs the README's
command and the pytest plugin from another directory, the examples are found by name, and
every command speaks the same interface.

The sdist is built from a copy of the repository, and the wheel from the unpacked sdist, as a
release build would: a file the sdist forgets fails the wheel's build or its contents test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_command

from gradcheck_xor import examples
from gradcheck_xor.cli import build_parser
from gradcheck_xor.params_io import load_params

ROOT = Path(__file__).resolve().parent.parent
NAME, VERSION = "gradcheck_xor", "0.1.0"
# Left out of the copy the sdist is built from: the environment, caches and build output.
NOT_SOURCE = (".venv", ".git", ".hypothesis", ".pytest_cache", ".ruff_cache", "__pycache__")
NOT_SOURCE += ("*.egg-info", "build", "dist", "site")
BUILD_TIMEOUT = 300  # seconds; a build takes a few, this only says "does not hang"


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(sdist, wheel)``: the sdist built from a copy of the repository, the wheel from it."""
    work = tmp_path_factory.mktemp("dists")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    # setuptools' own backend, the one pyproject names; no network and no build isolation.
    build_sdist = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    built = _run([sys.executable, "-c", build_sdist, work / "sdist"], cwd=source)
    assert built.returncode == 0, built.stderr[-3000:]
    sdist = work / "sdist" / built.stdout.split()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    wheel_dir = work / "wheel"
    pip_wheel = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir", "-w"]
    built = _run(
        [sys.executable, "-m", "pip", *pip_wheel, wheel_dir, work / "unpacked" / f"{NAME}-{VERSION}"], work
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = wheel_dir.glob("*.whl")
    return sdist, wheel


def _package_files(package: str) -> set[str]:
    """The checkout's files of a package that ship: its modules, data and marker."""
    shipped = ("*.py", "*.json", "*.ipynb", "py.typed")
    files = {p for pattern in shipped for p in (ROOT / package).rglob(pattern)}
    return {p.relative_to(ROOT).as_posix() for p in files if "__pycache__" not in p.parts}


# --- what the sdist and the wheel ship -------------------------------------------------------


def test_the_sdist_ships_the_package_its_licence_and_no_tests(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} <= names
    assert _package_files("gradcheck_xor") | _package_files("reference_impls") <= names
    # The suite needs the whole repository (docs, CI script, constraints): it is not shipped.
    assert not {n for n in names if n.split("/")[0] in ("tests", "docs", "benchmarks", ".ci", "site")}


def test_the_wheel_ships_the_package_with_its_examples_and_plugin_and_no_tests(
    dists: tuple[Path, Path],
) -> None:
    _, wheel = dists
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{NAME}-{VERSION}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert _package_files("gradcheck_xor") | _package_files("reference_impls") <= names
    assert {f"gradcheck_xor/examples/{name}.json" for name in examples.names()} <= names
    assert {"gradcheck_xor/py.typed", "reference_impls/py.typed", f"{info}/licenses/LICENSE"} <= names
    assert {n.split("/")[0] for n in names} == {"gradcheck_xor", "reference_impls", info}
    assert re.search(r"^\[pytest11\]\ngradcheck_xor = gradcheck_xor.pytest_plugin$", entry_points, re.M)
    assert re.search(r"^gradcheck-xor = gradcheck_xor.cli:main$", entry_points, re.M)

    assert "Framework :: Pytest" in metadata.get_all("Classifier")
    assert metadata["License-Expression"] == "MIT"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert urls == {
        "Documentation": "https://gradcheck-xor.github.io/gradcheck-xor/",
        "Source": "https://github.com/gradcheck-xor/gradcheck-xor",
        "Issues": "https://github.com/gradcheck-xor/gradcheck-xor/issues",
    }
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"site_url: {urls['Documentation']}" in mkdocs and f"repo_url: {urls['Source']}" in mkdocs
    extras = {}
    for requirement in metadata.get_all("Requires-Dist"):
        m = re.fullmatch(r"([\w.-]+)(?:\[[^]]*\])?[^;]*; extra == \"(\w+)\"", requirement)
        if m:
            extras.setdefault(m[2], set()).add(m[1])
    assert extras["pytest"] == {"pytest", "hypothesis"}  # light: no torch, JAX, linter or docs
    assert extras["docs"] == {"mkdocs-material", "mkdocstrings"}
    assert "gradcheck-xor" in extras["test"]  # composed of the others


# --- the wheel, installed apart from this repository -------------------------------------------


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run([python, "-c", code], cwd=python.parent).stdout.strip())


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel; returns its ``bin`` folder.

    The wheel is installed without its dependencies, which this machine may be unable to
    download: a ``.pth`` file lends the environment the running interpreter's site-packages
    for them. A ``.pth`` line only adds a folder to ``sys.path`` (the ``.pth`` files in it are
    not run), so the editable install of this repository stays out, and gradcheck-xor itself
    comes from the environment's own site-packages, which come first.
    """
    _, wheel = dists
    env_dir = tmp_path_factory.mktemp("wheel-env") / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    scripts = env_dir / "bin"
    python = scripts / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install"]
    done = _run([*pip, "--no-deps", "--no-index", "--no-cache-dir", wheel], cwd=env_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lent = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (_site_packages(python) / "_lent_dependencies.pth").write_text("\n".join(lent) + "\n", encoding="utf-8")
    return scripts


def _outside(scripts: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A directory far from the repository, and an environment that knows nothing of it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.pathsep.join([str(scripts), "/usr/bin", "/bin"])}
    env.update(NO_COLOR="1", PYTHONIOENCODING="utf-8", HOME=str(tmp_path))
    return elsewhere, env


def _readme_gradcheck_commands() -> list[str]:
    """The ``gradcheck-xor`` commands of the README's main command, after its install."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"<!-- main-command -->\n```sh\n(.*?)\n```", readme, re.S)
    assert command, "README.md has no main command"
    parts = [part.strip() for part in command[1].split("&&")]
    return [part.removeprefix(".venv/bin/") for part in parts if part.startswith(".venv/bin/gradcheck-xor")]


def test_the_installed_wheel_runs_the_readmes_commands_from_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere, env = _outside(installed, tmp_path)
    python = installed / "python"
    where = _run(
        [python, "-c", "import gradcheck_xor, sys; print(gradcheck_xor.__file__, sys.prefix)"], elsewhere, env
    )
    module, prefix = where.stdout.split()
    assert Path(module).is_relative_to(prefix) and not Path(module).is_relative_to(ROOT)

    commands = _readme_gradcheck_commands()
    assert [c.split()[1] for c in commands] == ["notebook", "diagnose"]
    for command in commands:
        argv = command.split()
        if argv[1] == "notebook":  # 200,000 steps twice take a minute; where it runs is the point
            argv += ["--steps", "2000", "--json"]
        done = _run([installed / argv[0], *argv[1:]], elsewhere, env)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        if argv[1] == "notebook":
            assert json.loads(done.stdout)["notebook"]["outcome"] in ("stuck", "other")
        else:
            lines = done.stdout.splitlines()
            assert lines[0] == "gradcheck-xor diagnose: example notebook_final"
            assert any(line.startswith("ERROR vanishing-w2: ") for line in lines)
    assert list(elsewhere.iterdir()) == []  # nothing read or written where it ran


PLUGIN_USER_TESTS = """
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from gradcheck_xor import model, notebook, strategies


def exact(params, A1, A2, X, Y):
    return model.gradients(params, X, Y)


def test_the_plugin_is_the_installed_one(request):
    plugin = request.config.pluginmanager.get_plugin("gradcheck_xor")
    assert Path(plugin.__file__).is_relative_to(sys.prefix)


def test_xor_data_and_params(xor_data, xor_params):
    X, Y = xor_data
    assert X.shape == (2, 4) and Y.shape == (1, 4) and set(xor_params) == {"W1", "b1", "W2", "b2"}


def test_the_oracle_passes_the_exact_gradient(gradcheck_oracle, xor_data, xor_params):
    X, Y = xor_data
    assert gradcheck_oracle(exact, params=xor_params, X=X, Y=Y).ok


def test_the_oracle_fails_the_notebooks_backward_and_says_why(gradcheck_oracle):
    with pytest.raises(AssertionError, match="matches-other-loss"):
        gradcheck_oracle(notebook.backword_propagation)


# The oracle fixture holds no state between examples.
@settings(
    max_examples=5,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(strategies.parameters(regime="dead-unit"))
def test_the_strategies_draw_for_the_oracle(gradcheck_oracle, params):
    gradcheck_oracle(exact, params=params)
"""


def test_the_installed_wheels_pytest_plugin_serves_a_project_elsewhere(
    installed: Path, tmp_path: Path
) -> None:
    project, env = _outside(installed, tmp_path)
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # its own rootdir
    (project / "test_backward.py").write_text(textwrap.dedent(PLUGIN_USER_TESTS), encoding="utf-8")
    done = _run([installed / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b5 passed\b", done.stdout), done.stdout[-2000:]


# --- the bundled examples, by name ----------------------------------------------------------


def test_the_examples_are_the_parameter_files_of_the_package_folder() -> None:
    folder = ROOT / "gradcheck_xor" / "examples"
    assert examples.names() == sorted(p.stem for p in folder.glob("*.json"))
    assert {"notebook_final", "notebook_init_dead_unit", "healthy_solution"} <= set(examples.names())
    for name in examples.names():
        with examples.path(name) as path:
            assert {"W1", "b1", "W2", "b2"} <= set(load_params(path))


def test_an_unknown_example_is_refused_with_the_names_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    listed = ", ".join(examples.names())
    unknown = re.escape(f"no example named 'notebook'; expected one of: {listed}.")
    with pytest.raises(ValueError, match=unknown), examples.path("notebook"):
        pass
    for command in ("diagnose", "check", "compare", "train"):
        with pytest.raises(SystemExit) as exit_:
            run_command(command, capsys, "--example", "notebook")
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1
        assert f"invalid choice: 'notebook' (choose from {', '.join(map(repr, examples.names()))})" in err


@pytest.mark.parametrize(
    ("command", "other"),
    [
        ("diagnose", "some.json"),
        ("check", "--params=some.json"),
        ("train", "--seed=1"),
        ("compare", "--seed=1"),
    ],
)
def test_an_example_stands_in_for_the_file_not_beside_it(
    capsys: pytest.CaptureFixture[str], command: str, other: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_command(command, capsys, "--example", "notebook_final", other)
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


# --- one interface across the commands ------------------------------------------------------

NOTEBOOK_TARGET = "gradcheck_xor.notebook:backword_propagation"
# Each command with --json, small enough to be quick; those that read a parameter file take
# a bundled example, and all of them run in an empty directory.
JSON_RUNS: dict[str, tuple[list[str], str | None]] = {
    "notebook": (["--steps", "20"], None),
    "sweep": (["--seeds", "3", "--steps", "20"], None),
    "diagnose": (["--example", "notebook_final"], "example notebook_final"),
    "check": (["--example", "healthy_solution", "--fast"], NOTEBOOK_TARGET),
    "train": (["--example", "notebook_init_dead_unit", "--steps", "50"], "example notebook_init_dead_unit"),
    "compare": (["--example", "healthy_solution", "--steps", "5"], "example healthy_solution"),
}
TRAINING = {"notebook", "sweep", "train", "compare"}  # the commands with a learning rate
OLD_NAMES = {"lr", "file", "target"}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _keys(data: Any) -> set[str]:
    """Every key of every object in a JSON document."""
    if isinstance(data, dict):
        return set(data) | {k for value in data.values() for k in _keys(value)}
    if isinstance(data, list):
        return {k for value in data for k in _keys(value)}
    return set()


def test_every_command_takes_json_and_its_learning_rate_by_one_name() -> None:
    assert set(_subcommands()) == set(JSON_RUNS)
    for name, parser in _subcommands().items():
        options = {option: action for action in parser._actions for option in action.option_strings}
        assert "--json" in options, name
        assert ("--learning-rate" in options) is (name in TRAINING), name
        if name in TRAINING:
            assert options["--lr"] is options["--learning-rate"]
            assert options["--lr"].dest == "learning_rate"


@pytest.mark.parametrize("command", list(JSON_RUNS))
def test_every_commands_json_names_its_source_and_learning_rate_alike_from_any_directory(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv, source = JSON_RUNS[command]
    if command == "compare":  # as the other compare tests: a missing framework skips (fails under CI)
        pytest.importorskip("torch")
        pytest.importorskip("jax")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_command(command, capsys, *argv, "--json")
    data = json.loads(out)  # exactly one JSON document
    assert code in (0, 1) and out.count("\n") == 1
    assert not _keys(data) & OLD_NAMES
    assert ("learning_rate" in data) is (command in TRAINING)
    assert data.get("source") == source
    assert list(tmp_path.iterdir()) == []  # nothing read or written where it ran


def test_the_strategies_without_hypothesis_name_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "gradcheck_xor.strategies", raising=False)
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # what an import of a missing package meets
    with pytest.raises(ImportError) as excinfo:
        importlib.import_module("gradcheck_xor.strategies")
    assert str(excinfo.value) == (
        "gradcheck_xor.strategies needs hypothesis, which is not installed: "
        "pip install 'gradcheck-xor[pytest]'"
    )
