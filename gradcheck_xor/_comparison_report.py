"""How a :class:`~gradcheck_xor.crossval.Comparison` reads: :func:`format_comparison`'s
table, one row per stage and one column per framework, and the HTML Jupyter shows
(:func:`comparison_html`), both opening with what was compared and ending with the verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradcheck_xor import _html

if TYPE_CHECKING:
    from gradcheck_xor.crossval import Comparison

__all__ = ["RELU_LABELS", "comparison_html", "format_comparison"]

RELU_LABELS = {
    "relu": "F.relu / jax.nn.relu (relu'(0) = 0, as NumPy)",
    "maximum": "torch.maximum / jnp.maximum (relu'(0) = 1/2 at a tie)",
}
_NAMES = {"torch": "PyTorch", "jax": "JAX", "numpy": "NumPy"}
_TITLE = "largest |x - numpy| / max(max |numpy|, 1)"


def _cell(value: float, verdict: str) -> str:
    shown = "0" if value == 0 else f"{value:.1e}"
    return f"{shown:>8} {verdict if verdict != 'agree' else 'ok'}"


def _frameworks(comparison: Comparison) -> list[str]:
    return [fw for fw in comparison.versions if fw != "numpy"]


def _head(comparison: Comparison) -> list[str]:
    """What was compared: the source and run, the network, the versions, the ReLU used."""
    run = f"{comparison.steps:,} steps at learning rate {comparison.learning_rate:g}"
    return [
        f"source: {comparison.source}; {run}",
        f"network: {comparison.network}",
        "reference: " + ", ".join(f"{_NAMES[fw]} {v}" for fw, v in comparison.versions.items()) + "; float64",
        f"ReLU in the frameworks: {RELU_LABELS[comparison.relu]}",
    ]


def _conclusion(comparison: Comparison) -> str:
    together = f"NumPy and {' and '.join(_NAMES[fw] for fw in _frameworks(comparison))}"
    excused = sorted({v for stage in comparison.stages for v in stage.verdict.values()} & {"chaotic", "kink"})
    if comparison.ok and not excused:
        return f"{together} agree at every stage."
    if comparison.ok:
        marks = " or ".join(f"'{mark}'" for mark in excused)
        return f"{together} agree at every stage but those marked {marks} (explained above)."
    failed = sorted({stage.name for stage in comparison.stages if "DIFFER" in stage.verdict.values()})
    return f"Unexplained differences in {len(failed)} stage(s): {'; '.join(failed)}."


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a readable table, one row per stage, one column per framework."""
    frameworks = _frameworks(comparison)
    lines = [*_head(comparison), ""]
    width = max(len(_TITLE), *(len(stage.name) for stage in comparison.stages)) + 2
    lines.append(f"{_TITLE:<{width}}" + "".join(f"{_NAMES[fw]:>15}" for fw in frameworks) + "   tolerance")
    for stage in comparison.stages:
        cells = "".join(f"{_cell(stage.disagreement[fw], stage.verdict[fw]):>15}" for fw in frameworks)
        lines.append(f"{stage.name:<{width}}{cells}   {stage.tolerance:.0e}")
    lines.append("")
    lines.extend(comparison.notes)
    lines.append(_conclusion(comparison))
    return "\n".join(lines)


def comparison_html(comparison: Comparison) -> str:
    """The comparison as Jupyter shows it: the verdict, what was compared, the notes, the stage table."""
    frameworks = _frameworks(comparison)
    header = ("stage", *(_NAMES[fw] for fw in frameworks), "tolerance")
    rows = [
        (
            stage.name,
            *(_cell(stage.disagreement[fw], stage.verdict[fw]) for fw in frameworks),
            f"{stage.tolerance:.0e}",
        )
        for stage in comparison.stages
    ]
    table = _html.table(header, rows, _TITLE)
    lines = [("", line) for line in [*_head(comparison), *comparison.notes, _conclusion(comparison)]]
    verdict = "agree" if comparison.ok else "DIFFER"
    return _html.report("gradcheck-xor compare", verdict, comparison.ok, lines, [table])
