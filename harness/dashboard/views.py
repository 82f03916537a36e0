"""The dashboard's pages as HTML: pure functions of data.py's dataclasses.

Everything that comes from a payment, a merchant, a webhook endpoint or a dead letter
(reference, description, metadata, names, URLs, reasons) is escaped where it is written into
the page, by `_e` (text and attribute values alike) or `_q` (a path segment); no markup from
data reaches the page. The pages carry no script: charts are inline SVG, actions are forms,
and the Content-Security-Policy (`CSP`) forbids scripts, frames and foreign form targets.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from common.domain.payment import PaymentStatus
from common.domain.webhooks import Delivery, DeliveryStatus
from harness.dashboard import payment_list, throughput
from harness.dashboard.data import (
    DeadLettersPage,
    Overview,
    PaymentDetail,
    PaymentRow,
    PaymentsPage,
)
from harness.dashboard.svg_charts import Line, line_chart

REFRESH_S = 5

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:.6em 1.5em;display:flex;gap:2em;align-items:center}
header b{font-size:16px}header a{color:#cfe3ff;text-decoration:none;margin-right:1.2em}
header a.on{color:#fff;border-bottom:2px solid #fff}
main{padding:1em 1.5em}h1{font-size:20px;margin:.2em 0 .6em}h2{font-size:15px;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;margin:0 1.5em 1em 0;vertical-align:top}
td,th{border:1px solid #d7dbe0;padding:3px 8px;text-align:left}th{background:#eef0f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.row{display:flex;flex-wrap:wrap;gap:0 1.5em;align-items:flex-start}
.card{background:#fff;border:1px solid #d7dbe0;padding:.5em .8em;margin:0 0 1em}
.err{color:#b00020}.note{color:#5b6570}.mono{font-family:ui-monospace,monospace;font-size:13px}
.st{padding:1px 6px;border-radius:3px;background:#e4e7eb}
.st-succeeded,.st-delivered,.st-closed,.st-running{background:#d3f2dc}
.st-declined,.st-scheduled,.st-half-open,.st-waiting,.st-held{background:#fdf0c8}
.st-failed,.st-open,.st-poison,.st-down,.st-stopped{background:#f9d5d8}
.chart{background:#fff;border:1px solid #d7dbe0}.chart .grid{stroke:#e6e8eb}
.chart .tick,.chart .unit{font-size:11px;fill:#5b6570}
.chart polyline{fill:none;stroke-width:2}.chart .accepted{stroke:#2f6fdf}
.chart .settled{stroke:#1f9d55}.chart .p50{stroke:#8e44ad}.chart .max{stroke:#e08a2c}
.key{font-size:12px;margin:.2em 0 .3em}.key i{display:inline-block;width:14px;height:3px;
vertical-align:middle;margin:0 4px 0 10px}.k-accepted{background:#2f6fdf}
.k-settled{background:#1f9d55}.k-p50{background:#8e44ad}.k-max{background:#e08a2c}
form.inline{display:inline;margin:0}button{cursor:pointer}
input[type=search]{width:24em}
""".strip()

CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""No script at all, the one stylesheet above, forms posting only here, never framed."""

NOTICES = {
    "resend": {
        "scheduled": "The webhook is scheduled again (same webhook id, due now).",
        "no-webhook": "This payment has no webhook yet: it is sent once the payment is final.",
        "not-found": "No such payment.",
    },
    "redrive": {
        "sent": "Sent back to its source topic.",
        "unsent": "Kafka did not acknowledge the redrive; try again.",
        "unknown": "No dead letter with a source topic at that position.",
    },
}
"""The messages an action's redirect may ask for, by code: a page never echoes its URL."""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _q(segment: str) -> str:
    return _e(quote(segment, safe=""))


def _t(at: datetime | None) -> str:
    if at is None:
        return ""
    return _e(at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}Z")


def _status(value: object) -> str:
    s = _e(value)
    return f'<span class="st st-{s}">{s}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "none") -> str:
    """A table of cells that are markup already (escape each one on the way in)."""
    head = f"<tr>{''.join(f'<th>{_e(h)}</th>' for h in headers)}</tr>" if any(headers) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="note">{_e(empty)}</td></tr>'
    return f"<table>{head}{body}</table>"


def _n(value: object) -> str:
    return f'<span class="n">{_e(value)}</span>'


def page(title: str, body: str, current: str, refresh: bool = False) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=on" if href == current else ""}>{_e(label)}</a>'
        for href, label in (
            ("/", "overview"),
            ("/payments", "payments"),
            ("/dead-letters", "dead letters"),
            ("/status.json", "status.json"),
        )
    )
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · paygate</title>{meta}<style>{_CSS}</style></head>"
        f"<body><header><b>paygate</b><nav>{nav}</nav></header><main>{body}</main></body></html>"
    )


def _notice(kind: str, code: str | None) -> str:
    text = NOTICES.get(kind, {}).get(code or "")
    return f'<p class="card">{_e(text)}</p>' if text else ""


# -- overview ------------------------------------------------------------------------


def overview_page(o: Overview) -> str:
    snap = o.status
    errors = {**snap.get("errors", {}), **o.errors}
    parts = [
        "<h1>Overview</h1>",
        *(f'<p class="err">{_e(k)} not answering: {_e(v)}</p>' for k, v in errors.items()),
        _charts(o),
        '<div class="row">',
        "<div><h2>Services</h2>"
        + _table(
            ["service", "address", "state"],
            [[_e(s["name"]), _e(s["address"]), _status(s["state"])] for s in snap["services"]],
        )
        + "</div>",
        "<div><h2>Topics</h2>"
        + _table(
            ["topic", "partitions", "records", "read by", "lag"],
            [
                [
                    _e(t["name"]),
                    _n(t["partitions"]),
                    _n(t["endOffset"]),
                    _e(t["consumer"] or ""),
                    _n("" if t["lag"] is None else t["lag"]),
                ]
                for t in snap["topics"]
            ],
        )
        + "</div></div>",
        '<div class="row">',
        _payments_box(o),
        _breaker_box(snap.get("breaker") or {}),
        "<div><h2>Webhook deliveries</h2>"
        + _table(["", "count"], [[_e(k), _n(v)] for k, v in snap["deliveries"].items()])
        + "</div>",
        _dead_letters_box(snap),
        "</div>",
        f'<p class="note">Refreshes every {REFRESH_S} s.</p>',
    ]
    return page("Overview", "".join(parts), "/", refresh=True)


def _charts(o: Overview) -> str:
    c = o.charts
    if c is None:
        return ""
    labels = ["-10 min", "-5 min", c.edges[-1].strftime("%H:%M:%S")]
    rates = line_chart(
        "accepted and settled payments per second",
        "payments/s",
        [
            Line("accepted", c.accepted_per_s, "accepted"),
            Line("settled", c.settled_per_s, "settled"),
        ],
        labels,
    )
    latency = line_chart(
        "submit to webhook delivered, milliseconds",
        "ms",
        [
            Line("median", c.latency_median_ms, "p50"),
            Line("max", c.latency_max_ms, "max"),
        ],
        labels,
    )
    b = throughput.BUCKET_S
    return (
        '<div class="row"><div><h2>Payments per second</h2>'
        '<div class="key"><i class="k-accepted"></i>accepted (payments.requested)'
        '<i class="k-settled"></i>settled (payments.processed)</div>'
        f"{rates}</div>"
        "<div><h2>Submit → webhook latency</h2>"
        '<div class="key"><i class="k-p50"></i>median<i class="k-max"></i>max of up to '
        f"{throughput.LATENCY_SAMPLES} sampled payments</div>{latency}</div></div>"
        f'<p class="note">{b}-second buckets over the last {throughput.WINDOW_S // 60} minutes.'
        "</p>"
    )


def _payments_box(o: Overview) -> str:
    counts = o.status["payments"]
    rows = [[_e(k), _n(v)] for k, v in counts.items() if k != "reversals pending"]
    outcomes = [[_status(k), _n(v)] for k, v in sorted(o.outcomes.items())]
    pending = counts.get("reversals pending", "?")
    return (
        "<div><h2>Payments</h2>"
        + _table(["ledger", "count"], rows)
        + f"<h2>Outcomes of the newest {o.outcomes_of} settled</h2>"
        + _table(["status", "count"], outcomes)
        + f"<h2>Reversals pending</h2><p>{_n(pending)}</p></div>"
    )


def _breaker_box(b: Mapping[str, Any]) -> str:
    return (
        "<div><h2>Bank circuit breaker</h2>"
        + _table(
            ["state", "calls in window", "failed", "opened at"],
            [
                [
                    _status(b.get("state", "?")),
                    _n(b.get("calls", "?")),
                    _n(b.get("failures", "?")),
                    _e(b.get("openedAt") or ""),
                ]
            ],
        )
        + "</div>"
    )


def _dead_letters_box(snap: Mapping[str, Any]) -> str:
    by_reason = sorted(snap.get("deadLettersByReason", {}).items())
    return (
        '<div><h2>Dead letters (<a href="/dead-letters">all</a>)</h2>'
        + _table(["topic · condition · state", "count"], [[_e(k), _n(v)] for k, v in by_reason])
        + "</div>"
    )


# -- payments ------------------------------------------------------------------------


def payments_page(p: PaymentsPage) -> str:
    q = p.query
    options = "".join(
        f'<option value="{_e(v)}"{" selected" if (q.status or "") == v else ""}>'
        f"{_e(v or 'any status')}</option>"
        for v in ["", *(s.value for s in PaymentStatus)]
    )
    form = (
        '<form method="get" action="/payments" class="card">'
        f'<input type="search" name="q" value="{_e(q.q)}" '
        'placeholder="transaction id prefix, reference or merchant id"> '
        f'<select name="status">{options}</select> <button>search</button></form>'
    )
    rows = [_payment_row(r) for r in p.rows]
    table = _table(
        ["created", "transaction", "merchant", "reference", "amount", "card", "status"],
        rows,
        "no payments" + (" match" if q.filtered else " yet"),
    )
    scope = (
        f"Searched the newest {p.searched} payments "
        f"(up to {payment_list.SEARCH_WINDOW} of each partition of payments.requested)."
        if q.filtered
        else "Newest first."
    )
    error = f'<p class="err">{_e(p.error)}</p>' if p.error else ""
    return page(
        "Payments",
        f"<h1>Payments</h1>{form}{error}{table}{_pager(p)}<p class='note'>{_e(scope)}</p>",
        "/payments",
    )


def _payment_row(r: PaymentRow) -> list[str]:
    v = r.view
    return [
        _t(v.created_at),
        f'<a class="mono" href="/payments/{_q(v.transaction_id)}">{_e(v.transaction_id)}</a>',
        _merchant(r.merchant_name, r.merchant_id),
        _e(v.reference or ""),
        _n(f"{v.amount} {v.currency}"),
        _e(f"{v.card.brand} ···· {v.card.last4}"),
        _status(v.status),
    ]


def _merchant(name: str | None, merchant_id: str) -> str:
    return f'{_e(name or "?")} <span class="note mono">{_e(merchant_id)}</span>'


def _pager(p: PaymentsPage) -> str:
    def link(n: int, label: str) -> str:
        params = {"status": p.query.status or "", "q": p.query.q, "page": str(n)}
        query = urlencode({k: v for k, v in params.items() if v})
        return f'<a href="/payments?{_e(query)}">{_e(label)}</a>'

    links = []
    if p.query.page > 0:
        links.append(link(p.query.page - 1, "← newer"))
    links.append(f"page {p.query.page + 1}")
    if p.has_next and p.query.page < payment_list.MAX_PAGE:
        links.append(link(p.query.page + 1, "older →"))
    return f"<p>{' · '.join(links)}</p>"


def payment_page(d: PaymentDetail, notice: str | None) -> str:
    v = d.view
    details = [
        ["status", _status(v.status)],
        ["amount", _e(f"{v.amount} {v.currency}")],
        ["merchant", _merchant(d.merchant_name, d.merchant_id)],
        ["reference", _e(v.reference or "")],
        ["description", _e(v.description or "")],
        ["card", _e(f"{v.card.brand} ···· {v.card.last4}")],
        ["created", _t(v.created_at)],
        ["updated", _t(v.updated_at)],
    ]
    if v.decline_code:
        details.append(["decline code", _e(v.decline_code)])
    if v.failure_reason:
        details.append(["failure reason", _e(v.failure_reason)])
    metadata = _table(["metadata key", "value"], [[_e(k), _e(x)] for k, x in v.metadata.items()])
    steps = _table(
        ["time", "step", "detail"], [[_t(s.at), _e(s.what), _e(s.detail)] for s in d.steps]
    )
    body = (
        f'<h1>Payment <span class="mono">{_e(v.transaction_id)}</span></h1>'
        f"{_notice('resend', notice)}"
        f'<div class="row"><div>{_table(["", ""], details)}</div><div>{metadata}</div></div>'
        f"<h2>Timeline</h2>{steps}<h2>Webhook</h2>{_webhook(d)}"
    )
    return page(f"Payment {v.transaction_id}", body, "/payments")


def _webhook(d: PaymentDetail) -> str:
    if not d.rounds:
        return '<p class="note">Sent once the payment is final.</p>'
    first = d.rounds[0]
    parts = [
        f'<p>id <span class="mono">{_e(first.webhook_id)}</span> to '
        f'<span class="mono">{_e(first.url)}</span></p>'
    ]
    for r in d.rounds:
        parts.append(_round(r))
    parts.append(
        f'<form method="post" action="/payments/{_q(d.view.transaction_id)}/webhook/resend">'
        "<button>Resend webhook</button></form>"
    )
    return "".join(parts)


def _round(r: Delivery) -> str:
    title = "its own delivery" if r.round == 0 else f"resend {r.round}"
    rows = [
        [
            _n(n),
            _t(a.at),
            _e(a.status_code if a.status_code is not None else ""),
            _e(a.error or ""),
            _n(f"{a.latency_ms:.0f} ms"),
        ]
        for n, a in enumerate(r.attempts, start=1)
    ]
    next_at = (
        f" · next attempt {_t(r.next_attempt_at)}"
        if r.status is DeliveryStatus.SCHEDULED and r.next_attempt_at
        else ""
    )
    return f"<h2>Round {r.round}: {_e(title)} · {_status(r.status.value)}{next_at}</h2>" + _table(
        ["attempt", "time", "response", "error", "latency"], rows, "no attempt yet"
    )


# -- dead letters --------------------------------------------------------------------


def dead_letters_page(p: DeadLettersPage, notice: str | None) -> str:
    groups = _table(
        ["topic", "condition", "reason", "count"],
        [[_e(g.topic), _e(g.condition), _e(g.reason), _n(g.count)] for g in p.groups],
        "no dead letters",
    )
    rows = []
    for x in p.letters:
        d = x.letter
        button = (
            '<form method="post" action="/dead-letters/redrive" class="inline">'
            f'<input type="hidden" name="position" value="{_e(d.position)}">'
            f"<button>redrive → {_e(d.source_topic)}</button></form>"
            if d.source_topic
            else ""
        )
        rows.append(
            [
                f'<span class="mono">{_e(d.position)}</span>',
                _e(d.condition),
                _status(x.state),
                f'<span class="mono">{_e((d.key or b"").decode(errors="replace"))}</span>',
                _n(d.redrives),
                _e(d.reason),
                button,
            ]
        )
    letters = _table(
        ["position", "condition", "state", "key", "redrives", "reason", ""], rows, "none"
    )
    shown = f"The newest {len(p.letters)} of {p.total}." if p.total > len(p.letters) else ""
    error = f'<p class="err">{_e(p.error)}</p>' if p.error else ""
    body = (
        f"<h1>Dead letters</h1>{_notice('redrive', notice)}{error}"
        f"<h2>By topic and reason</h2>{groups}<h2>Each one</h2>{letters}"
        f'<p class="note">{_e(shown)} A redrive sends the record back to its source topic '
        "whatever its condition; a poison record that is still poison comes back.</p>"
    )
    return page("Dead letters", body, "/dead-letters")


def refused_page(why: str) -> str:
    return page("Refused", f'<h1>Refused</h1><p class="err">{_e(why)}</p>', "")


def not_found_page(what: str) -> str:
    return page("Not found", f"<h1>Not found</h1><p>{_e(what)}</p>", "/payments")
