"""Every report in Jupyter: HTML with the verdict, why, the fix and the worst rows, all text
escaped; the text form IPython prints is str(report); repr is one short line."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck_xor import _html, check_backward, examples, model, notebook, sweep
from gradcheck_xor.diagnostics import Finding, Report, diagnose
from gradcheck_xor.params_io import load_params
from gradcheck_xor.quickcheck import check_point

SCRIPT = "<script>alert('x')</script>"
# The tags a report's HTML is made of; anything else came from unescaped text.
TAGS = {"div", "style", "p", "b", "table", "caption", "thead", "tbody", "tr", "th", "td"}
MOST_BYTES = 4096  # "a few KB": a cell's output, not a dump of the arrays


class _Page(HTMLParser):
    """The tags and the text of an HTML fragment, as a browser reads them."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"</{tag}> closes {self.open}"

    def handle_data(self, data: str) -> None:
        if self.open[-1:] != ["style"]:
            self.text.append(data)

    def cells(self) -> str:
        return "\n".join(self.text)


def _page(report: Any) -> _Page:
    fragment = report._repr_html_()
    assert len(fragment.encode()) <= MOST_BYTES
    page = _Page(fragment)
    assert not page.open, f"unclosed tags: {page.open}"
    assert set(page.tags) <= TAGS
    return page


class _Printer:
    """What IPython's pretty printer offers a ``_repr_pretty_``: ``text``."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def text(self, value: str) -> None:
        self.written.append(value)


def _pretty(report: Any) -> str:
    try:
        from IPython.lib.pretty import pretty
    except ImportError:  # IPython is not a dependency: its protocol is one method
        printer = _Printer()
        report._repr_pretty_(printer, False)
        return "".join(printer.written)
    return str(pretty(report))


def _raising(message: str) -> Callable[..., Any]:
    def backward(parameters: Any, A1: Any, A2: Any, X: Any, Y: Any) -> Any:
        raise KeyError(message)

    return backward


def _summary(seeds: int = 40) -> sweep.SweepSummary:
    return sweep.summarize(sweep.run_sweep(seeds, steps=50))


# --- the oracle's report ----------------------------------------------------------------------


def test_the_oracles_html_has_the_verdict_why_the_fix_and_the_worst_rows() -> None:
    report = check_backward(notebook.backword_propagation)
    page = _page(report)
    text = page.cells()
    assert "matches-other-loss" in text
    assert "half the mean squared error" in text
    assert "Fix:" in text and "compute dZ2 = (A2 - Y) / m" in text
    worst = report.worst(8, merge_layouts=True)
    for row in worst:
        assert row.element in text and row.point in text
    assert page.tags.count("tr") == 1 + len(worst)  # the header and the eight worst rows
    assert "FAIL" in text


def test_the_oracles_html_shows_what_the_backward_raised_as_text() -> None:
    report = check_backward(_raising(SCRIPT))
    text = _page(report).cells()
    assert report.verdict == "raised"
    assert SCRIPT in text  # shown, escaped: the parser read it as text, not as a tag


def test_a_right_backward_shows_ok_and_its_largest_errors() -> None:
    report = check_backward(lambda p, A1, A2, X, Y: model.gradients(p, X, Y))
    text = _page(report).cells()
    assert "ok" in text.split("\n") and "Largest errors" in text and "FAIL" not in text


# --- check_point ---------------------------------------------------------------------------------


def test_check_points_html_lists_the_failing_elements_first() -> None:
    params = model.init_params(0, bias=0.1)
    result = check_point(notebook.backword_propagation, params)
    text = _page(result).cells()
    assert "not ok" in text and f"{len(result.failing)} of 9 elements disagree" in text
    ratio = np.abs(result.analytic - result.expected) / result.tolerance
    worst = [result.elements[i] for i in np.argsort(-ratio, kind="stable")[:8]]
    shown = [line for line in text.split("\n") if line in result.elements]
    assert shown == worst  # every element fails here: the eight furthest beyond their tolerance


def test_check_points_html_says_what_the_backward_raised_escaped() -> None:
    result = check_point(_raising(SCRIPT), model.init_params(0, bias=0.1))
    page = _page(result)
    assert "not ok" in page.cells() and SCRIPT in page.cells()
    assert "table" not in page.tags  # no values to tabulate


# --- diagnose -------------------------------------------------------------------------------------


def test_diagnoses_html_has_each_finding_with_why_and_fix() -> None:
    with examples.path("notebook_final") as path:
        report = diagnose(load_params(path))
    text = _page(report).cells()
    assert "training from these parameters will go wrong" in text
    for finding in report.findings:
        assert finding.code in text and finding.fix in text and finding.why in text


def test_a_finding_named_like_a_tag_shows_as_text() -> None:
    report = Report([Finding("dead-relu", "error", SCRIPT, {SCRIPT: 1})])
    page = _page(report)
    assert SCRIPT in page.cells()
    assert SCRIPT in str(report) and "dead-relu" in repr(report)


# --- compare ------------------------------------------------------------------------------------


def test_compares_html_has_a_row_per_stage_and_its_source_escaped() -> None:
    pytest.importorskip("torch")
    from gradcheck_xor.crossval import compare

    comparison = compare(model.init_params(0), steps=3, frameworks=("torch",), source=SCRIPT)
    page = _page(comparison)
    text = page.cells()
    assert ("agree" if comparison.ok else "DIFFER") in text.split("\n")
    assert SCRIPT in text
    for stage in comparison.stages:
        assert stage.name in text
    assert page.tags.count("tr") == 1 + len(comparison.stages)
    assert _pretty(comparison) == str(comparison)


# --- the sweep's summary --------------------------------------------------------------------------


def test_the_sweep_summary_shows_its_rates_and_predictors_and_stays_a_dict() -> None:
    summary = _summary()
    text = _page(summary).cells()
    for outcome in sweep.OUTCOMES:
        assert f"{summary['counts'][outcome]:,}" in text and outcome in text
    for code in summary["predictors"]:
        assert code in text
    assert json.loads(json.dumps(summary)) == dict(summary)
    assert summary["n_seeds"] == 40


def test_a_predictor_named_like_a_tag_shows_as_text() -> None:
    summary = _summary(5)
    summary["predictors"] = {SCRIPT: next(iter(summary["predictors"].values()))}
    assert SCRIPT in _page(summary).cells()


# --- every report ---------------------------------------------------------------------------------


def _every_report() -> list[Any]:
    params = model.init_params(0, bias=0.1)
    return [
        check_backward(notebook.backword_propagation),
        check_point(notebook.backword_propagation, params),
        diagnose(params),
        _summary(5),
    ]


def test_every_reports_text_form_is_its_str_and_its_repr_one_short_line() -> None:
    for report in _every_report():
        assert _pretty(report) == str(report)
        printer = _Printer()
        report._repr_pretty_(printer, True)  # a report inside itself: no recursion
        assert printer.written == [f"<{type(report).__name__} ...>"]
        short = repr(report)
        assert "\n" not in short and len(short) < 200
        assert "array(" not in short


def test_the_oracles_repr_names_its_verdict_and_failures() -> None:
    report = check_backward(notebook.backword_propagation)
    failed = int(np.count_nonzero(~report.passed))
    assert (
        repr(report)
        == f"<GradcheckReport matches-other-loss: {failed} of {report.passed.size} elements disagree>"
    )


@given(title=st.text(), verdict=st.text(), line=st.text(), cell=st.text())
def test_any_text_shows_as_itself_and_never_as_markup(title: str, verdict: str, line: str, cell: str) -> None:
    table = _html.table([cell], [[cell]], caption=cell)
    page = _Page(_html.report(title, verdict, None, [("Fix", line)], [table]))
    assert set(page.tags) <= TAGS and not page.open
    assert "".join(page.text) == f"{title}: {verdict}Fix: {line}{cell}{cell}{cell}"
