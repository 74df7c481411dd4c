"""HTML for the playground and the generations browser. Every value a test or a reader may check
carries a ``data-*`` attribute or a ``z1-*`` class, so the browser test reads what the page shows."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from z1.explore.playground import METHOD_LABELS, WindowResult
from z1.explore.samples import Detail

STYLE = """<style>
.z1-grid{display:flex;gap:10px;align-items:flex-start;overflow-x:auto}
.z1-window{flex:1 1 0;min-width:260px;border:1px solid #ccc;border-radius:6px;padding:6px;background:#fff}
.z1-head{font-weight:600;margin-bottom:4px}
.z1-grid pre,.z1-detail pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:4px;
  font-size:12px;border-radius:4px}
.z1-thinking{background:#f3f3f3;color:#444}
.z1-appended{background:#ffe3b3;color:#7a4600}
.z1-answer{background:#e4f5e4;color:#143d14}
.z1-cut{color:#b00;font-size:11px}
.z1-label{font-size:11px;color:#666;margin-top:4px}
.z1-ok{color:#157a15;font-weight:600}.z1-bad{color:#b00;font-weight:600}
.z1-summary td,.z1-summary th{padding:2px 10px}
.z1-mono select{font-family:monospace;font-size:12px}
</style>"""


def _pre(cls: str, text: str) -> str:
    return f'<pre class="{cls}">{escape(text) if text else "<i>(empty)</i>"}</pre>'


def _verdict(correct: bool | None, reason: str | None) -> str:
    if correct is None:
        return ""
    mark = '<span class="z1-ok">correct</span>' if correct else '<span class="z1-bad">wrong</span>'
    return f'<div class="z1-grade" data-correct="{str(bool(correct)).lower()}">{mark}' + \
        (f" · {escape(reason)}" if reason else "") + "</div>"


def window_card(r: WindowResult) -> str:
    """One window's result: header (W, thinking tokens, hit), thinking, the cut, appended text, answer."""
    status = f"window hit at {r.window} tokens" if r.window_hit else "finished inside the window"
    head = (f'<div class="z1-head">W = {r.window} · <span class="z1-tokens">{r.thinking_tokens}</span> thinking tokens'
            f' · {status}</div>')
    if r.window_hit:
        body = (f'<div class="z1-label">thinking (cut by the window)</div>{_pre("z1-thinking", r.thinking)}'
                f'<div class="z1-cut">✂ window reached after {r.window} tokens; the method appends:</div>'
                f'{_pre("z1-appended", r.appended)}<div class="z1-label">answer</div>{_pre("z1-answer", r.answer)}')
    else:
        body = ('<div class="z1-label">response (no thinking delimiters: thinking and answer are one text)</div>'
                + _pre("z1-answer", r.answer))
    g = r.grade or {}
    notes = "".join(f'<div class="z1-label">note: {escape(n)}</div>' for n in r.notes)
    return (f'<div class="z1-window" data-window="{r.window}" data-thinking-tokens="{r.thinking_tokens}" '
            f'data-window-hit="{str(r.window_hit).lower()}" data-finish="{escape(r.finish_reason)}">'
            f'{head}{_verdict(g.get("correct"), g.get("reason"))}{body}{notes}</div>')


def sweep_html(results: Sequence[WindowResult], *, model: str = "") -> str:
    """All windows of one request, side by side, smallest first."""
    if not results:
        return "<i>no results</i>"
    r0 = results[0]
    caption = (f'<div class="z1-label">{escape(model)} · {escape(METHOD_LABELS.get(r0.method, r0.method))} · '
               f'{len(results)} window(s) in {r0.seconds:.1f} s (windows share their decoding)</div>')
    return STYLE + caption + '<div class="z1-grid">' + "".join(window_card(r) for r in results) + "</div>"


def error_html(message: str) -> str:
    return f'<div class="z1-error" style="color:#b00;white-space:pre-wrap">{escape(message)}</div>'


def summary_html(s: dict, *, profile: str) -> str:
    if not s["samples"]:
        return '<div class="z1-summary" data-samples="0"><i>no samples match this filter</i></div>'
    return (f'<table class="z1-summary" data-samples="{s["samples"]}" data-pass1="{s["pass@1"]:.4f}"><tr>'
            f'<th>profile</th><th>samples</th><th>problems</th><th>pass@1</th><th>thinking tokens (mean)</th>'
            f'<th>window hit</th></tr><tr><td>{escape(profile)}</td><td>{s["samples"]}</td><td>{s["problems"]}</td>'
            f'<td>{s["pass@1"]:.1%}</td><td>{s["thinking_tokens"]:.1f}</td><td>{s["window_hit_rate"]:.0%}</td></tr>'
            '</table>')


def detail_html(d: Detail) -> str:
    k = d.key
    head = (f'<div class="z1-head">{escape(str(k["model"]))} · {escape(str(k["benchmark"]))} · '
            f'{escape(str(k["problem_id"]))} · {escape(str(k["method"]))} W={k["window"]} · sample {k["sample_index"]}'
            f' · {d.thinking_tokens} thinking tokens · {"window hit" if d.window_hit else "finished in the window"}'
            '</div>')
    reason = d.reason or (f"sandbox: {d.verdict}" if d.verdict else None)
    parts = [head, _verdict(d.correct, reason)]
    if d.missing:
        parts.append(f'<div class="z1-label z1-missing">{escape(d.missing)}</div>')
    else:
        parts.append(f'<div class="z1-label">question</div>{_pre("z1-question", d.question or "")}')
        if d.window_hit:
            parts += [f'<div class="z1-label">thinking</div>{_pre("z1-thinking", d.thinking or "")}',
                      f'<div class="z1-cut">✂ window reached; appended:</div>{_pre("z1-appended", d.appended or "")}']
        parts.append(f'<div class="z1-label">answer (graded)</div>{_pre("z1-answer", d.answer or "")}')
    return STYLE + '<div class="z1-detail">' + "".join(parts) + "</div>"
