"""The month's report as a terminal table, CSV, and a self-contained HTML page.

Everything here returns text; the command writes it.  The HTML page has no
scripts and loads nothing: styles are inline and the charts are inline SVG, so
it can be mailed or archived as one file.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from bridge.policy.sla import format_duration
from bridge.report.compute import (
    FLAG_WORDS,
    OPEN_KINDS,
    USAGE_LIMIT_WORDS,
    CustomerReport,
    MonthReport,
    NotCounted,
    Stats,
)

NA = "n/a"

#: SLA outcome segments in chart order: (attribute, label, colour)
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("met", "met", "#2e7d32"),
    ("missed", "missed", "#ef6c00"),
    ("breached", "breached", "#c62828"),
    ("running", "running", "#1565c0"),
    ("paused", "paused", "#9e9e9e"),
)


def pct(value: float | None) -> str:
    return NA if value is None else f"{value * 100:.1f}%"


def dur(value: timedelta | None) -> str:
    return "-" if value is None else format_duration(value)


def hours(value: timedelta | None) -> str:
    return "" if value is None else f"{value.total_seconds() / 3600:.2f}"


def _when(report: MonthReport) -> str:
    return report.now.strftime("%Y-%m-%d %H:%M %Z").strip()


def _cases(n: int) -> str:
    return f"{n} case{'s' if n != 1 else ''}"


def still_open(s: Stats) -> str:
    """``"3 cases still open (1 running, 1 breached and unanswered, 1 held for approval)"``."""
    parts = [
        f"{s.still_open[kind]} {words}" for kind, words in OPEN_KINDS if s.still_open.get(kind)
    ]
    return f"{_cases(s.open)} still open ({', '.join(parts)})"


def status_line(report: MonthReport) -> str:
    """Whether the numbers can still change, and why."""
    when, month, total = f"states at {_when(report)}", report.month, report.total
    if not report.month_started:
        return f"{when}: {month} has not started yet, so it has no cases"
    if not report.month_over:
        if not total.cases:
            return f"{when}: {month} is not over yet, and has no cases so far"
        change = f"{when}: {month} is not over yet, so the numbers will change"
        return f"{change}; {still_open(total)}" if total.open else change
    if not total.cases:
        return f"{when}: no cases this month"
    if report.final:
        return f"{when}: final (every case of the month is answered or resolved)"
    return f"{when}: {still_open(total)}, so the numbers may still change"


def _title(report: MonthReport) -> str:
    """``"2026-10"``, or ``"Acme Networks, 2026-10"`` for a report limited to customers."""
    return f"{', '.join(report.selected)}, {report.month}" if report.selected else report.month


def _total_name(report: MonthReport) -> str:
    return "Total" if report.selected else "All customers"


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def unread_elsewhere_note(count: int) -> str:
    """A report for some customers: cases that could not be read, of no known customer."""
    return (
        f"{count} case(s) of the month could not be read, and whose they are is not known: "
        "these numbers may leave them out"
    )


def not_counted_meaning(report: MonthReport) -> str:
    """What "not counted" means under the rules the report was made with."""
    ways = []
    if report.not_counted_resolutions:
        ways.append(f"resolved as {_or(list(report.not_counted_resolutions))}")
    for flag in report.not_counted_flags:
        ways.append(FLAG_WORDS[flag])
        if flag == "not_entitled" and report.usage_limited:
            ways.append(USAGE_LIMIT_WORDS)
    if not ways:
        return "cases that do not use up the quota (the rules leave none out)"
    return f"cases that do not use up the quota: {_or(ways)}"


def not_counted_list(cases: Sequence[NotCounted]) -> str:
    """``"SUP-7 (resolved as Duplicate), SUP-9 (raised by ...)"``."""
    return ", ".join(f"{case.key} ({case.why})" for case in cases)


# ------------------------------------------------------------------------------ terminal

#: Column headings, in words (the terminal shows them in capitals).
HEADINGS = (
    "Customer",
    "Tier",
    "Cases",
    "Quota",
    "Over quota",
    "Not counted",
    "Met",
    "Missed",
    "Breached",
    "Running",
    "Paused",
    "Held for approval",
    "Compliance",
    "Median first response",
    "90th percentile first response",
)
_HEADER = tuple(h.upper() for h in HEADINGS)
_LEFT = 2  # the first columns are text (left-aligned); the rest are numbers


def _row(name: str, tier: str, quota: str, s: Stats) -> tuple[str, ...]:
    return (
        name,
        tier,
        str(s.cases),
        quota,
        str(s.over_quota),
        str(s.excluded),
        str(s.met),
        str(s.missed),
        str(s.breached),
        str(s.running),
        str(s.paused),
        str(s.held),
        pct(s.compliance),
        dur(s.median_response),
        dur(s.p90_response),
    )


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i < _LEFT else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def terminal(report: MonthReport) -> str:
    """The report as a plain-text table (customers, their priorities, totals, unknowns)."""
    out = [f"SLA compliance and quota for {_title(report)} — {status_line(report)}", ""]
    rows: list[tuple[str, ...]] = [_HEADER]
    for c in report.customers:
        rows.append(_row(c.organization, c.tier, str(c.quota), c.total))
        for level, s in c.by_priority.items():
            rows.append(_row(f"  {level}", "", "", s))
    rows.append(_row(_total_name(report), "", "", report.total))
    for level, s in report.by_priority.items():
        rows.append(_row(f"  {level}", "", "", s))
    out.extend(_table(rows))
    out.append("")
    out.append(
        "Compliance = met / (met + missed + breached); the median and 90th percentile are "
        "business time to the first response (paused time left out); not counted = "
        f"{not_counted_meaning(report)}; held for approval = cases held for quota approval "
        "in an approval status before their due time and first response (their clock "
        "stopped while they wait), counted apart from compliance."
    )
    late = [case for c in report.customers for case in c.late]
    if late:
        out.append("")
        out.append("Breached and missed cases (times in the customer's zone):")
        for case in late:
            answered = _when_local(case.first_response) if case.first_response else "none yet"
            out.append(
                f"  {case.key}  {case.organization}  {case.level}  {case.sla_state}:"
                f" due {_when_local(case.due)}, first response {answered}"
            )
    if any(c.not_counted for c in report.customers):
        out.append("")
        out.append("Not counted in the quota, and why:")
        for c in report.customers:
            if c.not_counted:
                out.append(f"  {c.organization}: {not_counted_list(c.not_counted)}")
    for c in report.customers:
        if c.over_quota_keys:
            out.append(
                f"{c.organization}: {len(c.over_quota_keys)} case(s) over the quota of "
                f"{c.quota}: {', '.join(c.over_quota_keys)}"
            )
    if report.unknown:
        out.append("")
        out.append("Unknown organisations (no agreement in customers.yaml; not in the numbers):")
        for u in report.unknown:
            out.append(f"  {u.name}: {len(u.keys)} case(s): {', '.join(u.keys)}")
    if report.skipped:
        out.append("")
        out.append(f"Skipped {len(report.skipped)} case(s) that could not be read or evaluated:")
        for key, why in report.skipped:
            out.append(f"  {key}: {why}")
    if report.unread_elsewhere:
        out.append("")
        out.append(unread_elsewhere_note(report.unread_elsewhere))
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "month",
    "organization",
    "tier",
    "priority",
    "cases",
    "quota",
    "counted",
    "over_quota",
    "excluded",
    "met",
    "missed",
    "breached",
    "running",
    "at_risk",
    "paused",
    "no_target",
    "compliance_pct",
    "median_first_response_hours",
    "p90_first_response_hours",
    "held_for_approval",
    "not_counted_cases",
)


def _csv_row(month: str, c: CustomerReport, priority: str, s: Stats) -> list[str]:
    compliance = s.compliance
    left_out = [n for n in c.not_counted if priority == "all" or n.level == priority]
    return [
        month,
        c.organization,
        c.tier,
        priority,
        str(s.cases),
        str(c.quota),
        str(s.counted),
        str(s.over_quota),
        str(s.excluded),
        str(s.met),
        str(s.missed),
        str(s.breached),
        str(s.running),
        str(s.at_risk),
        str(s.paused),
        str(s.no_target),
        "" if compliance is None else f"{compliance * 100:.1f}",
        hours(s.median_response),
        hours(s.p90_response),
        str(s.held),
        not_counted_list(left_out),
    ]


def to_csv(report: MonthReport) -> str:
    """One row per customer and priority, after a row ``priority=all`` with the customer's
    totals; unknown organisations last (tier ``unknown``, only their case count).
    ``not_counted_cases`` names the row's cases left out of the quota, each with why.
    Compliance is a percentage, empty when no case is decided; times are business hours."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in report.customers:
        writer.writerow(_csv_row(report.month, c, "all", c.total))
        for level, s in c.by_priority.items():
            writer.writerow(_csv_row(report.month, c, level, s))
    for u in report.unknown:
        row = [report.month, u.name, "unknown", "all", str(len(u.keys))]
        writer.writerow(row + [""] * (len(CSV_COLUMNS) - len(row)))
    return buf.getvalue()


# ---------------------------------------------------------------------------------- HTML

_LABEL_W = 190
_BAR_W = 460
_ROW_H = 26
_PAD = 10
_NAME_MAX = 28  # characters of a name that fit before the bars
_MARKER = "marker"  # a legend entry drawn as the quota's dashed line


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg(title: str, height: int, body: list[str]) -> str:
    width = _LABEL_W + _BAR_W + 90
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}" '
        'font-family="sans-serif" font-size="12">'
        f"<title>{_esc(title)}</title>" + "".join(body) + "</svg>"
    )


def _label(name: str, y: int) -> str:
    """A bar's name, right-aligned before the bar; long names shortened (in full on hover)."""
    shown = name if len(name) <= _NAME_MAX else name[: _NAME_MAX - 1] + "…"
    return (
        f'<text x="{_LABEL_W - 8}" y="{y + 17}" text-anchor="end">'
        f"<title>{_esc(name)}</title>{_esc(shown)}</text>"
    )


def _legend(items: Sequence[tuple[str, str]], y: int) -> list[str]:
    out, x = [], _LABEL_W
    for label, colour in items:
        if colour == _MARKER:
            out.append(
                f'<line x1="{x + 6}" y1="{y - 1}" x2="{x + 6}" y2="{y + 13}" stroke="#212121" '
                'stroke-width="2" stroke-dasharray="3,2"/>'
            )
        else:
            out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 10}">{_esc(label)}</text>')
        x += 24 + 7 * len(label) + 10
    return out


def quota_chart(report: MonthReport) -> str:
    """Cases per customer against the quota: within quota, over quota, not counted; a
    marker at the quota."""
    customers = report.customers
    scale_max = max([1] + [max(c.quota, c.total.cases) for c in customers])
    unit = _BAR_W / scale_max
    body: list[str] = []
    y = _PAD
    for c in customers:
        within = min(c.total.counted, c.quota)
        over = c.total.counted - within
        parts = (
            (within, "within quota", "#1565c0"),
            (over, "over quota", "#c62828"),
            (c.total.excluded, "not counted", "#bdbdbd"),
        )
        body.append(_label(c.organization, y))
        x = float(_LABEL_W)
        for n, what, colour in parts:
            if n:
                body.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{n * unit:.1f}" height="{_ROW_H - 8}" '
                    f'fill="{colour}"><title>{n} {what}</title></rect>'
                )
                x += n * unit
        qx = _LABEL_W + c.quota * unit
        body.append(
            f'<line x1="{qx:.1f}" y1="{y}" x2="{qx:.1f}" y2="{y + _ROW_H}" stroke="#212121" '
            'stroke-width="2" stroke-dasharray="3,2"/>'
        )
        label = f"{c.total.counted} / {c.quota}"
        end = max(x, qx) + 6
        body.append(f'<text x="{end:.1f}" y="{y + 17}">{_esc(label)}</text>')
        y += _ROW_H
    if not customers:
        body.append(f'<text x="{_LABEL_W}" y="{y + 17}">no customers in customers.yaml</text>')
        y += _ROW_H
    body.extend(
        _legend(
            [
                ("within quota", "#1565c0"),
                ("over quota", "#c62828"),
                ("not counted", "#bdbdbd"),
                ("quota", _MARKER),
            ],
            y + 8,
        )
    )
    return _svg(f"Cases vs quota per customer, {report.month}", y + 8 + 12 + _PAD, body)


def outcome_chart(title: str, rows: Sequence[tuple[str, Stats]]) -> str:
    """Stacked bars of met / missed / breached / running / paused, one bar per row."""
    scale_max = max([1] + [sum(getattr(s, a) for a, _, _ in SEGMENTS) for _, s in rows])
    unit = _BAR_W / scale_max
    body: list[str] = []
    y = _PAD
    for name, s in rows:
        body.append(_label(name, y))
        x = float(_LABEL_W)
        for attr, label, colour in SEGMENTS:
            n = int(getattr(s, attr))
            if n:
                body.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{n * unit:.1f}" height="{_ROW_H - 8}" '
                    f'fill="{colour}"><title>{n} {label}</title></rect>'
                )
                x += n * unit
        body.append(f'<text x="{x + 6:.1f}" y="{y + 17}">{_esc(pct(s.compliance))}</text>')
        y += _ROW_H
    if not rows:
        body.append(f'<text x="{_LABEL_W}" y="{y + 17}">no cases this month</text>')
        y += _ROW_H
    body.extend(_legend([(label, colour) for _, label, colour in SEGMENTS], y + 8))
    return _svg(title, y + 8 + 12 + _PAD, body)


#: The page's template, shipped with the package; `report --template FILE` replaces it.
TEMPLATE = "report.html.j2"


def _when_local(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%a %d %b %Y %H:%M %Z").strip()


def _browse(site_url: str | None, key: str) -> str:
    return f"{site_url.rstrip('/')}/browse/{key}" if site_url else ""


def html_context(report: MonthReport, site_url: str | None = None) -> dict[str, Any]:
    """What the page template gets (documented at the top of the template)."""
    rows: list[dict[str, Any]] = []
    for c in report.customers:
        rows.append(
            {"kind": "customer", "cells": _row(c.organization, c.tier, str(c.quota), c.total)}
        )
        for level, s in c.by_priority.items():
            rows.append({"kind": "priority", "cells": _row(level, "", "", s)})
    rows.append({"kind": "total", "cells": _row(_total_name(report), "", "", report.total)})
    for level, s in report.by_priority.items():
        rows.append({"kind": "priority", "cells": _row(level, "", "", s)})
    late = [
        {
            "key": case.key,
            "url": _browse(site_url, case.key),
            "organization": case.organization,
            "level": case.level,
            "state": case.sla_state,
            "created": _when_local(case.created),
            "due": _when_local(case.due),
            "first_response": _when_local(case.first_response)
            if case.first_response
            else "none yet",
        }
        for c in report.customers
        for case in c.late
    ]
    not_counted = [
        {
            "key": case.key,
            "url": _browse(site_url, case.key),
            "organization": c.organization,
            "level": case.level,
            "why": case.why,
        }
        for c in report.customers
        for case in c.not_counted
    ]
    return {
        "month": report.month,
        "title": _title(report),
        "selected": list(report.selected),
        "not_counted": not_counted,
        "not_counted_meaning": not_counted_meaning(report),
        "status": status_line(report),
        "final": report.final,
        "month_over": report.month_over,
        "columns": [h.capitalize() if h.isupper() else h for h in HEADINGS],
        "rows": rows,
        "late": late,
        "over_quota": [
            {
                "organization": c.organization,
                "quota": c.quota,
                "cases": [(k, _browse(site_url, k)) for k in c.over_quota_keys],
            }
            for c in report.customers
            if c.over_quota_keys
        ],
        "unknown": [
            {"name": u.name, "cases": [(k, _browse(site_url, k)) for k in u.keys]}
            for u in report.unknown
        ],
        "skipped": report.skipped,
        "unread_elsewhere": (
            unread_elsewhere_note(report.unread_elsewhere) if report.unread_elsewhere else ""
        ),
        "charts": [
            {"title": "Cases against the quota", "svg": quota_chart(report)},
            {
                "title": "Response outcomes per customer",
                "svg": outcome_chart(
                    f"Response outcomes per customer, {report.month}",
                    [(c.organization, c.total) for c in report.customers],
                ),
            },
            {
                "title": "Response outcomes per priority",
                "svg": outcome_chart(
                    f"Response outcomes per priority, {report.month}",
                    list(report.by_priority.items()),
                ),
            },
        ],
        "site_url": site_url or "",
    }


def to_html(
    report: MonthReport, *, site_url: str | None = None, template: Path | None = None
) -> str:
    """The page, rendered from the package's jinja2 template (or ``template``) with
    autoescaping on: names from Jira cannot inject markup.  The charts are inline SVG
    and the page loads nothing; case keys link to ``site_url``/browse/KEY."""
    if template is not None:
        loader: jinja2.BaseLoader = jinja2.FileSystemLoader(str(template.parent))
        name = template.name
    else:
        loader = jinja2.PackageLoader("bridge.report", "templates")
        name = TEMPLATE
    env = jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    return env.get_template(name).render(**html_context(report, site_url))
