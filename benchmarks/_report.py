"""Rows of the results table, and how they are printed (a Markdown table, pasteable as is)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DASH = "\N{EN DASH}"  # an empty cell
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Row:
    """One figure: what was measured, its floor, the ratio and the issue's target."""

    section: str
    figure: str
    floor: str = DASH
    value: str = DASH
    ratio: str = DASH
    target: str = DASH
    ok: bool | None = None  # None: information only, or skipped
    note: str = ""

    @property
    def result(self) -> str:
        if self.ok is None:
            return "skip" if self.note.startswith("skipped") else "info"
        return "pass" if self.ok else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result}


def us(seconds_or_us: float, *, unit: str = "us") -> str:
    """Microseconds as text (the value is already in µs unless ``unit="s"``)."""
    value = seconds_or_us * 1e6 if unit == "s" else seconds_or_us
    if math.isnan(value):
        return "n/a"
    return f"{value:.3f} µs" if value < 10 else f"{value:.1f} µs"


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    if math.isnan(seconds):
        return "n/a"
    value = seconds * 1e3
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def times(ratio: float) -> str:
    """A ratio as text."""
    return "n/a" if math.isnan(ratio) else f"{ratio:.2f}{TIMES}"


def skipped(section: str, figure: str, target: str, reason: str) -> Row:
    """A row for a figure that could not be measured here."""
    return Row(section, figure, target=target, note=f"skipped: {reason}")


def render(rows: list[Row], *, title: str = "") -> str:
    """A Markdown table of ``rows``, with notes under it."""
    header = ["figure", "floor", "measured", "ratio", "target", "result"]
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    section = None
    notes: list[str] = []
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{section}** | | | | | |")
        figure = row.figure
        if row.note:
            notes.append(row.note)
            figure += f" [{len(notes)}]"
        cells = [figure, row.floor, row.value, row.ratio, row.target, row.result]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{index}] {note}" for index, note in enumerate(notes, 1)]
    return "\n".join(lines)


def render_peers(columns: list[str], table: list[tuple[str, list[str]]], notes: list[str]) -> str:
    """The side-by-side table: one row per library, one column per figure."""
    lines = ["| library | " + " | ".join(columns) + " |"]
    lines.append("|---|" + "|".join("---" for _ in columns) + "|")
    for name, cells in table:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += notes
    return "\n".join(lines)
