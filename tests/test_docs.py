"""The documentation cannot rot: every example runs, the figures are made by the toolkit, the
site builds with ``mkdocs build --strict``.

How the pages' fenced blocks are run (the conventions a page author follows):

* ``python`` blocks run in page order, in one namespace per page, in a scratch directory
  that holds a copy of ``examples/``. A ``python`` block followed directly by a
  ``text title="Output"`` block must print exactly that text.
* A ``python title="name.py"`` block is a file the page shows: it is written to ``name.py``
  in the scratch directory (for a later command to run), not executed.
* ``console`` blocks: each line starting with ``$ `` is a command run by bash (the venv's
  ``bin`` first on PATH, in the same scratch directory); the lines after it, up to the next
  ``$ ``, are its expected output, stdout and stderr together. A command must exit 0 unless
  the next command is ``echo $?``, which then shows its exit code.
* ``sh`` blocks are commands without output; each must exit 0.
* ``...`` in an expected output stands for any text (doctest's ELLIPSIS), for the few
  values that change from run to run.
* Numbers in an expected output are compared as numbers: within a relative 1e-12, because
  NumPy's ``exp`` and ``log`` differ in the last bits from one processor to the next (AVX2,
  AVX-512, Arm), and numbers below 1e-12 (rounding noise) compare equal to each other. A
  number printed to 7 significant digits or more may also differ by one unit in its last
  digit (it can sit on a rounding boundary). The text around them must match exactly. A
  page meant for reading prints rounded numbers.
* ``<!-- not-run: why -->`` on the line before a fence leaves that block out (installs,
  runs of a minute or more). Such blocks are few, and each says why.
* The Korean pages (``docs/ko/``) show exactly the examples of their English pages, outputs
  included; a test holds them to that, so running the English page checks both.

When a command's output changes on purpose, refresh the pages from real runs with
``python tests/test_docs.py --update`` and read the diff.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
RUN_LANGS = ("python", "console", "sh")
MAX_NOT_RUN = 8
# The notebook's own words for its ideas; the Korean pages use these and no other spelling.
KOREAN_TERMS = {
    "경사하강법": ("경사 하강법", "그래디언트 디센트"),
    "순전파": ("포워드 패스", "전방 전파"),
    "역전파": ("백프로파게이션", "역 전파", "백워드 패스"),
    "손실 함수": ("손실함수", "로스 함수", "비용 함수"),
}

_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+)(?P<info>[^`\n]*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<why>.*?)\s*-->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    info: str
    text: str
    not_run: str | None  # the reason, when the page marks the block as not run
    start: int  # index of the first content line in the page's lines
    end: int  # index of the closing fence

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, with the not-run marker that precedes it, if any."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or not m["info"].strip():
            i += 1
            continue
        indent, ticks, info = m["indent"], m["ticks"], m["info"].strip()
        j = i + 1
        while j < len(lines) and lines[j].strip() != ticks:
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : j]]
        marker = _NOT_RUN.match(lines[i - 1]) if i > 0 else None
        blocks.append(
            Block(
                page, i + 1, info.split()[0], info, "\n".join(body) + "\n", marker and marker["why"], i + 1, j
            )
        )
        i = j + 1
    return blocks


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


# A number as printed: not part of a name (W1), a version (2.13.0) or a hex address (0x1f).
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)"
_NUMBER_IN_TEXT = re.compile(rf"(?<![\w.]){_NUMBER}")
REL_TOL = 1e-12  # a few thousand ulp: any exp/log kernel's last bits, never a changed result
NOISE = 1e-12  # below this a printed number is rounding noise (1e-17 beside 1.0)
LONG_PRINT = 7  # significant digits from which the last printed one may flip (see _last_digit)


def _tidy(s: str) -> str:
    """Without trailing blanks, and runs of spaces (table alignment) as one."""
    lines = (line.rstrip() for line in s.strip("\n").splitlines())
    return "\n".join(re.sub(r"(?<=\S) +", " ", line) for line in lines) + "\n"


def _pattern(want: str) -> tuple[re.Pattern[str], list[tuple[float, float]]]:
    """A regex for an expected output (its text literal, each ``...`` any text, each number
    any number, captured) and the numbers the expected output shows, in order."""
    parts, numbers = [], []
    for k, chunk in enumerate(want.split("...")):
        if k:
            parts.append(".*?")
        start = 0
        for m in _NUMBER_IN_TEXT.finditer(chunk):
            parts += [re.escape(chunk[start : m.start()]), f"({_NUMBER})"]
            numbers.append((float(m[0]), _last_digit(m[0])))
            start = m.end()
        parts.append(re.escape(chunk[start:]))
    return re.compile("".join(parts), re.DOTALL), numbers


def _last_digit(text: str) -> float:
    """One unit in the last digit of a number printed to LONG_PRINT significant digits or
    more, else 0. Such a number is as close to the computation's rounding noise as a page
    gets: where the value sits on a rounding boundary, the last bits of an exp or a log can
    flip that digit, so it is compared only to the precision written (doctest's NUMBER)."""
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    if len((whole + fraction).lstrip("0")) < LONG_PRINT:
        return 0.0
    return 10.0 ** (int(exponent or 0) - len(fraction))


def _close(want: tuple[float, float], got: float) -> bool:
    value, unit = want
    if abs(value) < NOISE and abs(got) < NOISE:
        return True
    return math.isclose(value, got, rel_tol=REL_TOL, abs_tol=unit * (1 + 1e-9))


def _same(want: str, got: str) -> bool:
    """Equal up to trailing blanks, the runs of spaces that align tables, ``...`` wildcards,
    and the last bits of numbers: the same text, with each number within ``REL_TOL`` of the
    page's (or both below ``NOISE``)."""
    pattern, shown = _pattern(_tidy(want))
    m = pattern.fullmatch(_tidy(got))
    return m is not None and all(_close(a, float(b)) for a, b in zip(shown, m.groups(), strict=True))


# --- running a page's blocks ----------------------------------------------------------------


@dataclass
class Step:
    """One thing a page claims: what it runs, what it says that prints, what it printed."""

    block: Block
    command: str
    want: str | None
    got: str = ""
    problem: str | None = None


def _console_commands(block: Block) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"{block.where}: console output before any '$ ' command: {line!r}")
    return [(cmd, "\n".join(out)) for cmd, out in pairs]


def _shell_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # Fixed width for argparse's help, no colour, no progress bars: output as a reader's pipe sees it.
    env.update(COLUMNS="100", NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8", NO_MKDOCS_2_WARNING="1")
    env.pop("FORCE_COLOR", None)
    return env


_MARK = "\x1e@@docs-test-step@@"


def _run_shell(commands: list[str], cwd: Path) -> tuple[list[str], list[int]]:
    """Run the commands in one bash, in order; return each one's output and exit code.

    One shell for the block, so ``echo $?`` reports the previous command's status.
    """
    script = ["set +e", "__rc=0"]
    for cmd in commands:
        script.append(f"(exit $__rc); {cmd} 2>&1; __rc=$?; printf '\\n{_MARK} %s\\n' $__rc")
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=_shell_env(),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    outputs, codes = [], []
    rest = proc.stdout
    for _ in commands:
        head, sep, tail = rest.partition(f"\n{_MARK} ")
        if not sep:
            raise AssertionError(f"the shell stopped early:\n{proc.stdout}\n{proc.stderr}")
        code, _, rest = tail.partition("\n")
        outputs.append(head)
        codes.append(int(code))
    return outputs, codes


def _file_title(block: Block) -> str | None:
    m = re.search(r'title="([\w.-]+\.py)"', block.info)
    return m and m[1]


def run_page(page: Path, workdir: Path) -> list[Step]:
    """Run every runnable block of ``page`` in ``workdir``; return what each step printed."""
    blocks = fenced_blocks(page)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    steps: list[Step] = []
    old_cwd, old_path, old_modules = Path.cwd(), list(sys.path), set(sys.modules)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))  # the page's own files import like a reader's would
    try:
        for k, block in enumerate(blocks):
            if block.lang not in RUN_LANGS or block.not_run is not None:
                continue
            file_name = _file_title(block)
            if file_name is not None:  # a file the page shows: written, to be run by later blocks
                (workdir / file_name).write_text(block.text, encoding="utf-8")
                continue
            if block.lang == "python":
                nxt = blocks[k + 1] if k + 1 < len(blocks) else None
                want = nxt.text if nxt and nxt.lang == "text" and 'title="Output"' in nxt.info else None
                step = Step(block, block.text, want)
                buffer = io.StringIO()
                try:
                    with redirect_stdout(buffer):
                        exec(compile(block.text, block.where, "exec"), namespace)
                except Exception as exc:
                    step.problem = f"raised {type(exc).__name__}: {exc}"
                step.got = buffer.getvalue()
                steps.append(step)
            elif block.lang == "console":
                pairs = _console_commands(block)
                outputs, codes = _run_shell([cmd for cmd, _ in pairs], workdir)
                for n, ((cmd, want), got, code) in enumerate(zip(pairs, outputs, codes, strict=True)):
                    step = Step(block, cmd, want, got)
                    shown = n + 1 < len(pairs) and pairs[n + 1][0].strip() == "echo $?"
                    if code != 0 and not shown:
                        step.problem = f"exited {code}; show it with a following 'echo $?'"
                    steps.append(step)
            else:  # sh: commands only
                commands = [c for c in block.text.splitlines() if c.strip() and not c.startswith("#")]
                outputs, codes = _run_shell(commands, workdir)
                for cmd, got, code in zip(commands, outputs, codes, strict=True):
                    steps.append(Step(block, cmd, None, got, None if code == 0 else f"exited {code}"))
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for name in set(sys.modules) - old_modules:  # the page's modules, not the next page's
            if str(workdir) in str(getattr(sys.modules[name], "__file__", "") or ""):
                del sys.modules[name]
    # Paths inside the scratch directory read as a reader would see them: relative.
    for step in steps:
        step.got = step.got.replace(f"{workdir}{os.sep}", "")
    return steps


def _scratch(tmp: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp / "examples")
    return tmp


# --- the tests ------------------------------------------------------------------------------


def _english(page: Path) -> Path:
    return DOCS / page.relative_to(DOCS / "ko")


def _examples(page: Path) -> list[tuple[str, str, str | None]]:
    """What a page runs and what it says that prints: its code blocks and output blocks."""
    return [
        (b.info, b.text, b.not_run)
        for b in fenced_blocks(page)
        if b.lang in RUN_LANGS or 'title="Output"' in b.info
    ]


KOREAN = sorted((DOCS / "ko").glob("*.md"))
RUN = [p for p in pages() if p not in KOREAN]


@pytest.mark.parametrize("page", KOREAN, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_korean_page_shows_the_english_pages_examples_which_are_run(page: Path) -> None:
    # Same code, same outputs: running the English page checks both (and halves the run time).
    assert _examples(page) == _examples(_english(page))


@pytest.mark.parametrize("page", RUN, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_example_on_the_page_runs_and_prints_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    failures = []
    for step in run_page(page, _scratch(tmp_path)):
        if step.problem:
            failures.append(f"{step.block.where}: {step.command.strip()!r} {step.problem}\n{step.got}")
        elif step.want is not None and not _same(step.want, step.got):
            failures.append(
                f"{step.block.where}: {step.command.strip()!r} printed something else than the page shows.\n"
                f"--- the page shows:\n{step.want}\n--- it printed:\n{step.got}"
            )
    assert not failures, (
        "\n\n".join(failures) + "\n\n(refresh outputs with: python tests/test_docs.py --update)"
    )


# --- the same pages on another processor ---------------------------------------------------

# Lines the pages print, with a number each, as lines of prose, lists and aligned tables.
_LINES = st.sampled_from(
    [
        "{}",
        "loss {} at step 10,000.",
        "corrected: {} PyTorch: 58.6",
        'evidence: {{"W2": [{}, 1.0], "threshold": 1.49e-08}}',
        "dW1 (BCE rule)          {} ok     2.8e-17 ok   1e-12",
    ]
)
_FLOATS = st.floats(-1e300, 1e300, allow_nan=False)


def _ulps_away(x: float, n: int) -> float:
    for _ in range(abs(n)):
        x = float(np.nextafter(x, np.inf if n > 0 else -np.inf))
    return x


@given(_FLOATS, st.integers(-64, 64), _LINES)
def test_a_number_printed_with_other_last_bits_matches_the_page(x: float, ulps: int, line: str) -> None:
    assert _same(line.format(repr(x)), line.format(repr(_ulps_away(x, ulps))))


# Beyond 2e-6 a change moves even a number printed to 7 digits by more than its last digit.
@given(_FLOATS.filter(lambda x: abs(x) >= NOISE), st.floats(2e-6, 0.5), st.sampled_from([-1.0, 1.0]), _LINES)
def test_a_number_that_differs_beyond_rounding_does_not_match(
    x: float, change: float, sign: float, line: str
) -> None:
    assert not _same(line.format(repr(x)), line.format(repr(x * (1 + sign * change))))


_COMPARISONS = {
    # A page written on one processor, and what another printed (an AVX-512 Xeon, issue 12).
    "last bits": (
        "corrected: 58.62256358747341 PyTorch: 58.6",
        "corrected: 58.622563587473394 PyTorch: 58.6",
        True,
    ),
    "a full-precision number off by 1e-9": ("loss 58.62256358747341", "loss 58.62256364609597", False),
    "the last of 7 printed digits flipped": ("numeric  1.234568e-01", "numeric  1.234567e-01", True),
    "the 7th of 7 digits off by two": ("numeric  1.234568e-01", "numeric  1.234566e-01", False),
    "the last of 6 printed digits flipped": ("loss 0.919474", "loss 0.919475", False),
    "noise below 1e-12": ("largest difference 5.6e-17", "largest difference 0.0", True),
    "alignment and trailing blanks": ("db2   0 ok   1e-12\n", "db2 0 ok 1e-12   \n\n", True),
    "ellipsis": ("2 passed in ...", "2 passed in 0.31s", True),
    "a word": ("loss 0.5 at step 3", "loss 0.5 at stop 3", False),
    "a name's digit": ("W1 0.5", "W2 0.5", False),
    "a count": ("432 seeds", "433 seeds", False),
    "a version": ("NumPy 2.13.0", "NumPy 2.13.1", False),
    "a boolean for a number": ("1", "True", False),
    "a number beside an ellipsis": ("loss 0.69 in ...", "loss 0.7 in 1s", False),
}


@pytest.mark.parametrize(("shown", "printed", "same"), _COMPARISONS.values(), ids=list(_COMPARISONS))
def test_outside_the_numbers_the_text_must_match(shown: str, printed: str, same: bool) -> None:
    assert _same(shown, printed) is same


def _simd_targets_above_baseline() -> list[str]:
    """The SIMD targets NumPy dispatches to on this processor beyond its build's baseline."""
    try:
        return list(np.show_config(mode="dicts")["SIMD Extensions"]["found"])
    except (TypeError, KeyError):  # NumPy before 1.25: no mode="dicts"; run with every target
        return []


def test_the_numpy_pages_print_what_they_show_with_numpys_baseline_kernels(tmp_path: Path) -> None:
    # Another processor in miniature: with the SIMD targets NumPy dispatches to disabled (AVX2
    # and AVX-512 on x86-64), its exp, log and tanh take other code paths, which round
    # differently in the last bits. The pages that need neither PyTorch nor JAX, in one run.
    test = f"{Path(__file__).resolve()}::test_every_example_on_the_page_runs_and_prints_what_the_page_shows"
    nodes = [f"{test}[{page}]" for page in ("tutorial.md", "diagnostics.md")]
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(_simd_targets_above_baseline())}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *nodes, "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        f"with NPY_DISABLE_CPU_FEATURES={env['NPY_DISABLE_CPU_FEATURES']!r}:\n" + (result.stdout[-4000:])
    )


def test_blocks_left_out_of_the_run_are_few_and_each_says_why() -> None:
    left_out = [b for p in pages() for b in fenced_blocks(p) if b.not_run is not None]
    assert all(b.not_run for b in left_out), [b.where for b in left_out if not b.not_run]
    assert all(b.lang in RUN_LANGS for b in left_out), [b.where for b in left_out if b.lang not in RUN_LANGS]
    assert len(left_out) <= MAX_NOT_RUN, [b.where for b in left_out]


def test_every_page_uses_only_block_languages_the_run_knows() -> None:
    known = {*RUN_LANGS, "text", "json", "toml", "yaml"}
    unknown = [f"{b.where} ({b.lang})" for p in pages() for b in fenced_blocks(p) if b.lang not in known]
    assert not unknown, f"blocks in languages the docs test neither runs nor expects: {unknown}"


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, flags=re.MULTILINE)


def test_every_page_is_in_the_navigation_and_the_korean_pages_are_reachable() -> None:
    in_nav = set(_nav_pages())
    on_disk = {str(p.relative_to(DOCS)) for p in pages()}
    assert in_nav == on_disk
    assert {"ko/getting-started.md", "ko/tutorial.md"} <= in_nav


def _figures(page: Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\((?:\.\./)*figures/([\w.-]+\.png)\)", page.read_text(encoding="utf-8"))


def test_the_korean_tutorial_shows_the_same_figures_as_the_english_one() -> None:
    english = _figures(DOCS / "tutorial.md")
    assert english, "the tutorial shows no figure"
    assert _figures(DOCS / "ko" / "tutorial.md") == english


@pytest.mark.parametrize("page", ["ko/getting-started.md", "ko/tutorial.md"])
def test_the_korean_pages_use_the_notebooks_own_terms_and_no_other_spelling(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    if page.endswith("tutorial.md"):
        missing = [term for term in KOREAN_TERMS if term not in prose]
        assert not missing, f"{page} never uses {missing}"
    variants = [v for others in KOREAN_TERMS.values() for v in others if v in prose]
    assert not variants, f"{page} spells a notebook term another way: {variants}"


def test_the_cli_reference_names_every_command_and_option() -> None:
    from gradcheck_xor.cli import build_parser

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    missing = []
    for name, sub in subparsers.choices.items():
        if f"gradcheck-xor {name}" not in text:
            missing.append(name)
        for action in sub._actions:
            missing += [
                f"{name} {opt}" for opt in action.option_strings if opt.startswith("--") and opt not in text
            ]
    assert not missing, f"docs/cli.md does not mention: {missing}"
    for code in ("0", "1", "2"):
        assert re.search(rf"^\|\s*`?{code}`?\s*\|", text, flags=re.MULTILINE), (
            f"exit code {code} is not in the table"
        )


def _readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1].strip()


@pytest.mark.parametrize("page", ["getting-started.md", "ko/getting-started.md"])
def test_getting_started_shows_the_readmes_two_commands(page: str) -> None:
    shown = [b.text.strip() for b in fenced_blocks(DOCS / page) if b.lang == "sh" and b.not_run]
    assert shown[:2] == [_readme_command("main-command"), _readme_command("test-command")]


def _section(page: str, name: str) -> str:
    """The body of the section headed ``### `name``` on a docs page (it must have one)."""
    parts = (DOCS / page).read_text(encoding="utf-8").split(f"### `{name}`", 1)
    assert len(parts) == 2, f"docs/{page} has no section for {name!r}"
    return parts[1].split("\n### ", 1)[0]


def test_the_oracle_page_shows_every_verdict_with_an_example() -> None:
    from gradcheck_xor.gradcheck import VERDICTS

    for verdict in VERDICTS:
        body = _section("oracle.md", verdict)
        if verdict != "ok":  # the ok example is the page's first one
            assert f"{verdict}:" in body, f"the {verdict!r} section shows no report with that verdict"


def test_the_diagnostics_page_explains_every_code_with_its_fix() -> None:
    from gradcheck_xor.diagnostics import CODES

    text = (DOCS / "diagnostics.md").read_text(encoding="utf-8")
    for code in CODES:
        body = _section("diagnostics.md", code)
        assert "**Why it matters.**" in body and "**Fix.**" in body, code
        assert f" {code}" in body or f"{code}:" in body, (
            f"the {code!r} section shows no finding with that code"
        )
        assert f"`{code}`" in text.split("## How well the codes predict failure", 1)[1], code


# Numbers the pages quote from the full-length sweeps, and the reports they come from.
QUOTED = {
    "sweep_notebook.txt": ("21.9%", "20.2%", "78.1%", " 432 ", "[99.1, 100.0]"),
    "sweep_bce.txt": ("22.8%", "20.7%", "77.2%", " 432 ", "[99.1, 100.0]"),
    "sweep_bce_bias.txt": ("43.6%", "66.7%", "55.5%", " 84 "),
}


def test_the_numbers_the_pages_quote_are_in_the_sweep_reports_they_include() -> None:
    pages_text = (DOCS / "tutorial.md").read_text(encoding="utf-8") + (DOCS / "diagnostics.md").read_text(
        encoding="utf-8"
    )
    for report, numbers in QUOTED.items():
        text = (DOCS / "figures" / report).read_text(encoding="utf-8")
        assert f'--8<-- "figures/{report}"' in pages_text
        for number in numbers:
            assert number in text, (
                f"{report} no longer says {number!r}: rerun docs/make_figures.py, fix the pages"
            )
            shown = number.strip(" []").replace(".0]", "").split(",")[0]
            assert shown in pages_text, f"the pages no longer quote {number!r}"


# --- figures and the site ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the docs whose figures were just made by docs/make_figures.py, built strictly."""
    work = tmp_path_factory.mktemp("site")
    shutil.copytree(DOCS, work / "docs", ignore=shutil.ignore_patterns("figures", "__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    figures = subprocess.run(
        [sys.executable, str(DOCS / "make_figures.py"), "--out", str(work / "docs" / "figures"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env=_shell_env(),
    )
    assert figures.returncode == 0, figures.stderr
    build = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "-f", str(work / "mkdocs.yml"), "-d", str(work / "site")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,  # where the snippets' base path, docs/, is
        env=_shell_env(),
    )
    assert build.returncode == 0, build.stderr
    return work


def test_the_figure_script_makes_every_figure_the_pages_show(built_site: Path) -> None:
    shown = {name for p in pages() for name in _figures(p)}
    made = {p.name for p in (built_site / "docs" / "figures").glob("*.png")}
    assert shown <= made, f"figures the pages show but the script does not make: {sorted(shown - made)}"
    committed = {p.name for p in (DOCS / "figures").glob("*.png")}
    assert made == committed, "docs/figures/ differs from what docs/make_figures.py makes: run it"
    for name in made:
        assert (built_site / "docs" / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_site_builds_strictly_with_the_api_reference_and_the_korean_pages(built_site: Path) -> None:
    site = built_site / "site"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "check_backward" in api and "load_params" in api
    korean = (site / "ko" / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "역전파" in korean
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="ko/tutorial/"' in index


def test_the_korean_pages_are_marked_korean_and_the_others_english(built_site: Path) -> None:
    site = built_site / "site"

    def lang(page: Path) -> str:
        match = re.search(r'<html lang="([^"]*)"', page.read_text(encoding="utf-8"))
        assert match, f"{page.relative_to(site)} has no <html lang>"
        return match[1]

    korean = sorted((site / "ko").rglob("*.html"))
    assert len(korean) == len(KOREAN)
    others = [p for p in site.rglob("*.html") if p.relative_to(site).parts[0] != "ko"]
    wrong = [f"{p.relative_to(site)}: {lang(p)}" for p in korean if lang(p) != "ko"]
    wrong += [f"{p.relative_to(site)}: {lang(p)}" for p in others if lang(p) != "en"]
    assert others and not wrong


# --- refreshing the pages' expected outputs ----------------------------------------------------


# What changes from run to run in a real output, and the wildcard the page shows instead.
_VOLATILE = (
    (re.compile(r" at 0x[0-9a-f]+>"), " at 0x...>"),  # object addresses
    (re.compile(r" in \d+(?:\.\d+)?s\b"), " in ..."),  # pytest's timing
    (re.compile(r"backend (\w+): [\d.]+ ns per seed-step"), r"backend \1: ... ns per seed-step"),
    (re.compile(r"NumPy [^,]+, PyTorch [^,]+, JAX [^;]+;"), "NumPy ..., PyTorch ..., JAX ...;"),
)


def _wildcards(text: str) -> str:
    for pattern, shown in _VOLATILE:
        text = pattern.sub(shown, text)
    return text


def _update(paths: list[Path]) -> int:
    import tempfile

    changed = 0
    for page in paths:
        lines = page.read_text(encoding="utf-8").splitlines()
        with tempfile.TemporaryDirectory() as tmp:
            steps = run_page(page, _scratch(Path(tmp)))
        edits: dict[tuple[int, int], list[str]] = {}
        blocks = fenced_blocks(page)
        for step in steps:
            if step.problem:
                print(f"{step.block.where}: {step.command.strip()!r} {step.problem}", file=sys.stderr)
        for k, block in enumerate(blocks):
            mine = [s for s in steps if s.block.line == block.line]
            if not mine:
                continue
            if block.lang == "console":
                new = []
                for s in mine:
                    keep = _same(s.want or "", s.got)
                    shown = s.want if keep else _wildcards(s.got)
                    new += [f"$ {s.command}", *shown.rstrip("\n").splitlines()]
                edits[(block.start, block.end)] = new
            elif block.lang == "python" and mine[0].want is not None and not _same(mine[0].want, mine[0].got):
                out = blocks[k + 1]
                edits[(out.start, out.end)] = _wildcards(mine[0].got).rstrip("\n").splitlines()
        for (start, end), new in sorted(edits.items(), reverse=True):
            indent = re.match(r" *", lines[start - 1]).group(0)
            replacement = [indent + x if x else x for x in new]
            if lines[start:end] != replacement:
                lines[start:end] = replacement
                changed += 1
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for page in KOREAN:
        _copy_examples(_english(page), page)
    print(f"{changed} block(s) refreshed", file=sys.stderr)
    return 0


def _copy_examples(source: Path, target: Path) -> None:
    """Give the target page's example blocks the source page's contents, block for block."""
    take = [b for b in fenced_blocks(source) if b.lang in RUN_LANGS or 'title="Output"' in b.info]
    put = [b for b in fenced_blocks(target) if b.lang in RUN_LANGS or 'title="Output"' in b.info]
    if len(take) != len(put):
        print(
            f"{target.relative_to(ROOT)}: {len(put)} examples, {source.name} has {len(take)}", file=sys.stderr
        )
        return
    lines = target.read_text(encoding="utf-8").splitlines()
    for src, dst in reversed(list(zip(take, put, strict=True))):
        lines[dst.start - 1 : dst.end] = [lines[dst.start - 1], *src.text.rstrip("\n").splitlines()]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python tests/test_docs.py --update [PAGE.md ...]")
    sys.exit(_update([Path(p).resolve() for p in sys.argv[2:]] or RUN))
