"""The analysts' report as one self-contained HTML page of Plotly charts.

plotly.js is inlined once (in the first chart), so the page opens offline, from a mail
attachment or a file share, with nothing fetched. Each chart is a `<section>` whose `<h2>`
is the chart's title; the chart titles are in `CHART_TITLES` for the tests.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

from lapor_es.readmodels import stats as st
from lapor_es.readmodels.report import AGE_BANDS, OPEN_STATES, ReportData

CHART_TITLES = (
    "Completion and follow-up rate by month of filing",
    "Completion and follow-up rate by category",
    "Completion and follow-up rate by agency tier",
    "SLA compliance by agency",
    "Backlog ageing",
    "Slowest agencies to a first response",
)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _rates_figure(title: str, rows: Sequence[st.CompletionRow], axis: str) -> Any:
    keys = [r.key for r in rows]
    figure = go.Figure(
        [
            go.Bar(name="completion %", x=keys, y=[_percent(r.completion_rate) for r in rows]),
            go.Bar(name="follow-up %", x=keys, y=[_percent(r.follow_up_rate) for r in rows]),
        ]
    )
    figure.update_layout(title=title, barmode="group", xaxis_title=axis, yaxis_title="%")
    figure.update_yaxes(range=[0, 100])
    return figure


def _sla_figure(rows: Sequence[st.SlaRow]) -> Any:
    # Worst first: the agencies an analyst looks at are on the left.
    judged = sorted((r for r in rows if r.judged), key=lambda r: (r.compliance or 0.0, r.agency))
    figure = go.Figure(
        go.Bar(
            x=[r.agency for r in judged],
            y=[_percent(r.compliance) for r in judged],
            text=[f"{r.within_sla}/{r.judged}" for r in judged],
            name="within SLA %",
        )
    )
    figure.update_layout(title=CHART_TITLES[3], xaxis_title="agency", yaxis_title="% within SLA")
    figure.update_yaxes(range=[0, 100])
    return figure


def _backlog_figure(data: ReportData) -> Any:
    bands = [label for label, _ in AGE_BANDS]
    traces = []
    for state in OPEN_STATES:
        counts = {r.band: r.count for r in data.backlog if r.state == state}
        traces.append(go.Bar(name=state, x=bands, y=[counts.get(b, 0) for b in bands]))
    figure = go.Figure(traces)
    figure.update_layout(
        title=CHART_TITLES[4],
        barmode="stack",
        xaxis_title="days since filing",
        yaxis_title="open complaints",
    )
    return figure


def _slowest_figure(rows: Sequence[st.SlowRow]) -> Any:
    agencies = [r.agency for r in rows]
    figure = go.Figure(
        [
            go.Bar(name="median", x=agencies, y=[r.median for r in rows]),
            go.Bar(name="90th percentile", x=agencies, y=[r.p90 for r in rows]),
        ]
    )
    figure.update_layout(
        title=CHART_TITLES[5],
        barmode="group",
        xaxis_title="agency",
        yaxis_title="working days to first response",
    )
    return figure


def figures(data: ReportData) -> list[Any]:
    """The charts, in the order of `CHART_TITLES`. Every x axis is categorical: plotly would
    read "2026-02" as a date and label it "Feb 1"."""
    charts = [
        _rates_figure(CHART_TITLES[0], data.by_month, "month"),
        _rates_figure(CHART_TITLES[1], data.by_category, "category"),
        _rates_figure(CHART_TITLES[2], data.by_tier, "tier"),
        _sla_figure(data.sla),
        _backlog_figure(data),
        _slowest_figure(data.slowest),
    ]
    for figure in charts:
        figure.update_xaxes(type="category")
    return charts


def render(data: ReportData) -> str:
    """The whole page. Chart divs get fixed ids (chart-1...), so two runs on the same data
    differ only where plotly itself varies."""
    cohort = data.cohort
    heading = (
        f"Complaints filed {cohort.filed_from}..{cohort.filed_to}, "
        f"as of {cohort.as_of.isoformat().replace('+00:00', 'Z')}"
    )
    sections = []
    for number, (title, figure) in enumerate(
        zip(CHART_TITLES, figures(data), strict=True), start=1
    ):
        chart = pio.to_html(
            figure,
            include_plotlyjs=number == 1,  # inline plotly.js once: the page is self-contained
            full_html=False,
            div_id=f"chart-{number}",
            config={"responsive": True},
        )
        sections.append(f"<section>\n<h2>{html.escape(title)}</h2>\n{chart}\n</section>")
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>lapor-es report: {html.escape(heading)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(heading)}</h1>\n{body}\n</body>\n</html>\n"
    )
