"""The supervisor's report: the queue's mood over time, the escalations with the
sentences that carry them, and per-agent figures from the audit log; exported as CSV
or as a self-contained HTML report (its chart an embedded PNG, nothing remote).

Plain values in, plain values out: the records come from the queue
(``Queue.mood_records`` and ``Queue.audit_records``), the app draws the chart.
"""

from __future__ import annotations

import base64
import csv
import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from core.fsutil import atomic_write_bytes

LEVELS = ("very_negative", "negative", "neutral", "positive", "very_positive")


@dataclass(frozen=True)
class MoodRecord:
    """One analysed customer message."""

    ticket_id: str
    subject: str
    customer: str
    channel: str
    agent: str                  # the ticket's assignee, else who replied last
    when: str                   # ISO time the message was written
    sentiment: str
    score: float
    escalation: bool
    reasons: tuple[str, ...] = ()
    sentences: tuple[str, ...] = ()     # the sentences that carry the threat or mood

    @property
    def day(self) -> date:
        return _parse(self.when).date()


@dataclass(frozen=True)
class ReportFilter:
    start: date | None = None
    end: date | None = None         # inclusive
    channel: str = ""
    agent: str = ""

    def keeps(self, record: MoodRecord) -> bool:
        day = record.day
        return ((self.start is None or day >= self.start)
                and (self.end is None or day <= self.end)
                and (not self.channel or record.channel == self.channel)
                and (not self.agent or record.agent == self.agent))


@dataclass(frozen=True)
class DayMood:
    day: date
    counts: dict[str, int]      # per level
    escalations: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class AgentFigures:
    agent: str
    tickets: int                # tickets the agent replied to
    replies: int
    from_draft: int             # replies that started from the model's draft
    mean_edit_distance: float | None    # characters changed in those, on average
    mean_edit_share: float | None       # …as a share of the draft's length


@dataclass
class Report:
    days: list[DayMood]
    escalations: list[MoodRecord]
    agents: list[AgentFigures]
    records: list[MoodRecord] = field(default_factory=list)
    filter: ReportFilter = field(default_factory=ReportFilter)


def _parse(iso: str) -> datetime:
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return datetime(1970, 1, 1, tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def build_report(records: list[MoodRecord], audit: list[dict],
                 flt: ReportFilter = ReportFilter()) -> Report:
    kept = [r for r in records if flt.keeps(r)]
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LEVELS, 0))
    escalated: dict[date, int] = defaultdict(int)
    for record in kept:
        if record.sentiment in LEVELS:
            by_day[record.day][record.sentiment] += 1
        escalated[record.day] += record.escalation
    days = [DayMood(day, dict(by_day[day]), escalated[day]) for day in sorted(by_day)]
    escalations = sorted((r for r in kept if r.escalation), key=lambda r: r.when, reverse=True)
    return Report(days=days, escalations=escalations, agents=agent_figures(audit, flt),
                  records=kept, filter=flt)


def agent_figures(audit: list[dict], flt: ReportFilter = ReportFilter()) -> list[AgentFigures]:
    """Per agent: replies sent (through Kefu or marked as sent elsewhere), the tickets
    they went to, and how much of the model's draft each agent changed."""
    replies: dict[str, list[dict]] = defaultdict(list)
    for entry in audit:
        if entry["action"] not in ("sent", "sent_elsewhere"):
            continue
        day = _parse(entry["at"]).date()
        if (flt.start and day < flt.start) or (flt.end and day > flt.end):
            continue
        agent = entry["actor"] or "(unknown)"
        if flt.agent and agent != flt.agent:
            continue
        replies[agent].append(entry)
    out = []
    for agent, entries in sorted(replies.items()):
        drafted = [e for e in entries if e["detail"].get("from_draft")]
        distances = [e["edit_distance"] for e in drafted if e["edit_distance"] is not None]
        shares = [e["edit_distance"] / max(1, e["detail"].get("draft_chars", 0))
                  for e in drafted if e["edit_distance"] is not None]
        out.append(AgentFigures(
            agent=agent, tickets=len({e["ticket_id"] for e in entries}), replies=len(entries),
            from_draft=len(drafted),
            mean_edit_distance=sum(distances) / len(distances) if distances else None,
            mean_edit_share=sum(shares) / len(shares) if shares else None))
    return out


def export_csv(report: Report, path: Path) -> None:
    """One row per analysed customer message in the report (UTF-8 with BOM, so Excel
    reads Chinese right)."""
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket", "subject", "customer", "channel", "agent", "when", "sentiment",
                     "score", "escalation", "reasons", "sentences"])
    for r in sorted(report.records, key=lambda r: r.when):
        writer.writerow([r.ticket_id, r.subject, r.customer, r.channel, r.agent, r.when,
                         r.sentiment, f"{r.score:.3f}", "yes" if r.escalation else "no",
                         " ".join(r.reasons), " | ".join(r.sentences)])
    atomic_write_bytes(path, ("\ufeff" + out.getvalue()).encode("utf-8"))


def export_html(report: Report, path: Path, *, chart_png: bytes | None = None,
                title: str = "Customer sentiment report") -> None:
    """A single self-contained HTML file: filters, the chart, escalations, agents."""
    f = report.filter
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             ".esc{background:#fcd34d}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<p>Period: {esc(str(f.start or 'start'))} to {esc(str(f.end or 'today'))}"
             f"{' · channel ' + esc(f.channel) if f.channel else ''}"
             f"{' · agent ' + esc(f.agent) if f.agent else ''} · "
             f"{len(report.records)} customer messages, {len(report.escalations)} "
             f"escalations</p>"]
    if chart_png:
        parts.append("<img alt='Sentiment per day' src='data:image/png;base64,"
                     + base64.b64encode(chart_png).decode("ascii") + "'>")
    parts.append("<h2>Sentiment per day</h2><table><tr><th>day</th>"
                 + "".join(f"<th>{esc(level.replace('_', ' '))}</th>" for level in LEVELS)
                 + "<th>escalations</th></tr>")
    for d in report.days:
        parts.append(f"<tr><td>{d.day}</td>"
                     + "".join(f"<td>{d.counts[level]}</td>" for level in LEVELS)
                     + f"<td>{d.escalations}</td></tr>")
    parts.append("</table><h2>Escalations</h2><table><tr><th>when</th><th>ticket</th>"
                 "<th>customer</th><th>reasons</th><th>what they wrote</th></tr>")
    for r in report.escalations:
        parts.append(f"<tr><td>{esc(r.when[:16].replace('T', ' '))}</td>"
                     f"<td>{esc(r.subject)}</td><td>{esc(r.customer)}</td>"
                     f"<td>{esc(', '.join(x.replace('_', ' ') for x in r.reasons))}</td>"
                     f"<td class='esc'>{'<br>'.join(esc(s) for s in r.sentences)}</td></tr>")
    parts.append("</table><h2>Agents</h2><table><tr><th>agent</th><th>tickets</th>"
                 "<th>replies</th><th>from a draft</th><th>mean edit (chars)</th>"
                 "<th>mean edit (share of draft)</th></tr>")
    for a in report.agents:
        parts.append(f"<tr><td>{esc(a.agent)}</td><td>{a.tickets}</td><td>{a.replies}</td>"
                     f"<td>{a.from_draft}</td><td>{_num(a.mean_edit_distance, '{:.0f}')}</td>"
                     f"<td>{_num(a.mean_edit_share, '{:.0%}')}</td></tr>")
    parts.append("</table></body></html>")
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)
