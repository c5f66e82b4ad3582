"""Batch inspection reports: one self-contained HTML page, plus CSV and JSON for machines.

The HTML file embeds everything (thumbnails as base64 data URIs, CSS, a small sorting
script) so it can be mailed or archived as a single file and opened offline.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from inspector.atomic import atomic_writer, write_text
from inspector.result import InspectionResult, Verdict
from inspector.safe_text import csv_cell, shown

__all__ = [
    "CSV_COLUMNS",
    "ReportRow",
    "summarize",
    "csv_row",
    "write_html_report",
    "write_results_csv",
    "write_results_json",
]

CSV_COLUMNS = (
    "path",
    "score",
    "normalized_score",
    "verdict",
    "error",
    "n_regions",
    "largest_area_px",
    "anomaly_map",
)


@dataclass(frozen=True)
class ReportRow:
    """One inspected image as it appears in a report.

    Attributes:
        path: absolute path of the image file.
        verdict: PASS, FAIL or ERROR.
        score: raw image score, None when inspection failed.
        normalized_score: score mapped to 0..1 (threshold at 0.5), None when failed.
        error: error message, '' if none.
        n_regions: number of defect regions.
        largest_area_px: area of the largest defect region, 0 if none.
        thumbnail_jpeg: small JPEG of the heatmap overlay, None if not available.
        anomaly_map_path: where the anomaly map was saved, '' if it was not.
    """

    path: str
    verdict: Verdict
    score: float | None = None
    normalized_score: float | None = None
    error: str = ""
    n_regions: int = 0
    largest_area_px: int = 0
    thumbnail_jpeg: bytes | None = None
    anomaly_map_path: str = ""

    @classmethod
    def from_result(
        cls,
        path: str | os.PathLike[str],
        result: InspectionResult,
        *,
        thumbnail_jpeg: bytes | None = None,
        anomaly_map_path: str = "",
    ) -> ReportRow:
        """Builds a row from a successful inspection."""
        return cls(
            path=os.path.abspath(os.fspath(path)),
            verdict=Verdict(result.verdict),
            score=float(result.score),
            normalized_score=float(result.normalized_score),
            n_regions=len(result.regions),
            largest_area_px=max((int(r.area_px) for r in result.regions), default=0),
            thumbnail_jpeg=thumbnail_jpeg,
            anomaly_map_path=anomaly_map_path,
        )

    @classmethod
    def from_error(cls, path: str | os.PathLike[str], error: str | BaseException) -> ReportRow:
        """Builds an ERROR row for an image that could not be inspected."""
        msg = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(path=os.path.abspath(os.fspath(path)), verdict=Verdict.ERROR, error=msg)


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def summarize(rows: Sequence[ReportRow]) -> dict[str, Any]:
    """Counts verdicts.

    ``yield_percent`` is PASS / (PASS + FAIL) * 100: images that could not be inspected
    say nothing about part quality, so they are left out. It is None with no PASS/FAIL rows.

    Returns:
        Dict with total, pass, fail, error and yield_percent.
    """
    n_pass = sum(1 for r in rows if r.verdict == Verdict.PASS)
    n_fail = sum(1 for r in rows if r.verdict == Verdict.FAIL)
    judged = n_pass + n_fail
    return {
        "total": len(rows),
        "pass": n_pass,
        "fail": n_fail,
        "error": len(rows) - judged,
        "yield_percent": round(100.0 * n_pass / judged, 2) if judged else None,
    }


def _fmt(x: float | None, spec: str = ".6g") -> str:
    x = _finite(x)
    return "" if x is None else format(x, spec)


def _record(row: ReportRow) -> dict[str, Any]:
    # Names that are not UTF-8 are shown escaped: text files must stay valid UTF-8.
    return {
        "path": shown(row.path),
        "score": _finite(row.score),
        "normalized_score": _finite(row.normalized_score),
        "verdict": str(Verdict(row.verdict)),
        "error": shown(row.error),
        "n_regions": int(row.n_regions),
        "largest_area_px": int(row.largest_area_px),
        "anomaly_map": shown(row.anomaly_map_path),
    }


def csv_row(row: ReportRow) -> dict[str, Any]:
    """One row of ``results.csv``: text cells inert in a spreadsheet, scores to 6 digits."""
    rec = _record(row)
    return rec | {
        "path": csv_cell(rec["path"]),
        "error": csv_cell(rec["error"]),
        "anomaly_map": csv_cell(rec["anomaly_map"]),
        "score": _fmt(row.score),
        "normalized_score": _fmt(row.normalized_score),
    }


def write_results_csv(rows: Iterable[ReportRow], path: str | os.PathLike[str]) -> Path:
    """Writes one CSV line per image with the columns in ``CSV_COLUMNS``.

    Missing values are empty cells; scores have 6 significant digits.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(row) for row in rows)
    return out


def write_results_json(
    rows: Sequence[ReportRow],
    path: str | os.PathLike[str],
    summary: Mapping[str, Any] | None = None,
) -> Path:
    """Writes ``{"summary": ..., "results": [...]}`` (same keys as the CSV, no thumbnails).

    Args:
        rows: report rows.
        path: output file.
        summary: summary to store; defaults to ``summarize(rows)``.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "summary": dict(summarize(rows) if summary is None else summary),
        "results": [_record(r) for r in rows],
    }
    write_text(out, json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    return out


# ---------------------------------------------------------------- HTML

_CSS = """
:root{--fg:#1f2328;--mu:#656d76;--bd:#d8dee4;--bg:#f6f8fa;--pass:#2e7d4f;--fail:#c0392b;
--err:#7b8088}*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{padding:18px 28px;border-bottom:1px solid var(--bd);background:var(--bg)}
h1{margin:0;font-size:20px;font-weight:600}h2{font-size:15px;margin:0 0 10px;font-weight:600}
.sub{color:var(--mu);font-size:12px;margin-top:2px}main{padding:20px 28px;max-width:1400px}
.top{display:flex;flex-wrap:wrap;gap:20px;margin-bottom:24px}
.side{display:flex;flex-direction:column;gap:20px}
.card{border:1px solid var(--bd);border-radius:8px;padding:14px 16px;background:#fff}
.kv{border-collapse:collapse;font-size:13px}
.kv th{text-align:left;color:var(--mu);font-weight:500;padding:2px 16px 2px 0;white-space:nowrap}
.kv td{padding:2px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
word-break:break-all}.counts{display:grid;grid-template-columns:repeat(5,auto);gap:6px 22px}
.counts div{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.counts span{display:block;font-size:11px;font-weight:500;color:var(--mu);text-transform:uppercase;
letter-spacing:.04em}.c-pass{color:var(--pass)}.c-fail{color:var(--fail)}.c-err{color:var(--err)}
.hist{flex:1 1 480px;min-width:340px}
.hist svg{width:100%;max-width:720px;height:auto;display:block}
.empty{color:var(--mu);font-style:italic;padding:24px 0}
table.res{border-collapse:collapse;width:100%;font-size:13px}
.res th{position:sticky;top:0;background:var(--bg);text-align:left;font-weight:600;
padding:8px 10px;border-bottom:1px solid var(--bd);white-space:nowrap;user-select:none}
.res th[data-sort]{cursor:pointer}.res th[data-sort]:hover{background:#eaeef2}
.res th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
.res th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
.res td{padding:6px 10px;border-bottom:1px solid #eef1f4;vertical-align:middle}
.res tbody tr:hover{background:#fafbfc}
.num,.res th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.thumb{display:block;max-width:128px;max-height:96px;border-radius:4px;cursor:zoom-in;
border:1px solid var(--bd)}
.nothumb{width:64px;height:48px;border:1px dashed var(--bd);border-radius:4px}.fn{max-width:380px}
.fn b{font-weight:500;word-break:break-all}
.fn small{display:block;color:var(--mu);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.badge{display:inline-block;min-width:52px;text-align:center;padding:2px 8px;border-radius:10px;
font-size:11px;font-weight:700;letter-spacing:.04em;color:#fff}.f-PASS{fill:var(--pass)}
.f-FAIL{fill:var(--fail)}.b-PASS{background:var(--pass)}.b-FAIL{background:var(--fail)}
.b-ERROR{background:var(--err)}.na{color:#b0b7bf}.errtxt{color:var(--fail);max-width:320px;word-break:break-word}
#viewer{position:fixed;inset:0;background:rgba(15,18,22,.82);display:none;align-items:center;
justify-content:center;flex-direction:column;cursor:zoom-out;z-index:9}#viewer.open{display:flex}
#viewer img{width:min(80vw,80vh,640px);max-height:80vh;object-fit:contain;border-radius:6px}
#viewer div{color:#eee;margin-top:10px;font-size:13px;max-width:80vw;word-break:break-all}
"""

# Sorting keeps ERROR rows (no score) last in both directions; ties fall back to the
# original order (data-i) so repeated clicks are stable.
_JS = """
(function(){
var tb=document.querySelector('table.res tbody'),ths=document.querySelectorAll('th[data-sort]');
function key(tr,i){return tr.children[i].getAttribute('data-v');}
function sortBy(th){
 var i=Array.prototype.indexOf.call(th.parentNode.children,th),num=th.dataset.sort==='num';
 var cur=th.getAttribute('aria-sort'),dir=cur?(cur==='descending'?1:-1):(num?-1:1);
 var rows=Array.prototype.slice.call(tb.rows);
 rows.sort(function(a,b){var x=key(a,i),y=key(b,i),r;
  if(num){var ex=x==='',ey=y==='';if(ex||ey){r=ex-ey;}else{r=dir*(parseFloat(x)-parseFloat(y));}}
  else{r=dir*x.localeCompare(y,undefined,{numeric:true,sensitivity:'base'});}
  return r||(a.dataset.i-b.dataset.i);});
 var f=document.createDocumentFragment();rows.forEach(function(r){f.appendChild(r);});
 tb.appendChild(f);
 ths.forEach(function(h){h.removeAttribute('aria-sort');});
 th.setAttribute('aria-sort',dir>0?'ascending':'descending');}
ths.forEach(function(th){th.addEventListener('click',function(){sortBy(th);});});
var v=document.getElementById('viewer'),vi=v.querySelector('img'),vc=v.querySelector('div');
tb.addEventListener('click',function(e){var t=e.target;if(!t.classList.contains('thumb'))return;
 vi.src=t.src;vc.textContent=t.getAttribute('data-path');v.classList.add('open');});
v.addEventListener('click',function(){v.classList.remove('open');});
document.addEventListener('keydown',function(e){if(e.key==='Escape')v.classList.remove('open');});
})();
"""


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round-valued axis ticks (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _histogram_svg(rows: Sequence[ReportRow], threshold: float) -> str:
    """Stacked PASS/FAIL histogram of raw scores with the threshold marked."""
    pts = [(s, r.verdict) for r in rows if (s := _finite(r.score)) is not None]
    if not pts:
        return '<p class="empty">No scores to plot (no image was inspected successfully).</p>'
    scores = np.array([p[0] for p in pts])
    lo, hi = float(min(scores.min(), threshold)), float(max(scores.max(), threshold))
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    lo, hi = lo - 0.04 * span, hi + 0.04 * span
    width = (hi - lo) / int(np.clip(np.sqrt(len(pts)) * 2, 12, 48))
    # Put a bin edge exactly on the threshold so no bar straddles the decision line.
    start = threshold - math.ceil((threshold - lo) / width - 1e-9) * width
    edges = start + width * np.arange(math.ceil((hi - start) / width - 1e-9) + 1)
    fail = np.array([v == Verdict.FAIL for _, v in pts])
    c_pass, _ = np.histogram(scores[~fail], edges)
    c_fail, _ = np.histogram(scores[fail], edges)
    top = max(int((c_pass + c_fail).max()), 1)
    yt = [t for t in _nice_ticks(0, top, 5) if t == int(t)] or [0.0, float(top)]
    ymax = max(top, yt[-1])

    W, H, L, R, T, B = 640, 240, 44, 14, 26, 38  # plot size and margins
    pw, ph = W - L - R, H - T - B
    xmin, xmax = float(edges[0]), float(edges[-1])

    def X(v: float) -> float:
        return L + (v - xmin) / (xmax - xmin) * pw

    def Y(c: float) -> float:
        return T + ph - c / ymax * ph

    o = [
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="Score histogram" font-size="11" '
        'fill="#656d76">'
    ]
    for t in yt:
        o.append(
            f'<line x1="{L}" x2="{W - R}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#eef1f4"/>'
            f'<text x="{L - 6}" y="{Y(t) + 4:.1f}" text-anchor="end">{int(t)}</text>'
        )
    for i in range(len(edges) - 1):
        x0, x1 = X(edges[i]) + 0.5, X(edges[i + 1]) - 0.5
        for base, cnt, lab in ((0, c_pass[i], "PASS"), (c_pass[i], c_fail[i], "FAIL")):
            if cnt:
                o.append(
                    f'<rect x="{x0:.1f}" y="{Y(base + cnt):.1f}" width="{x1 - x0:.1f}" '
                    f'height="{Y(base) - Y(base + cnt):.1f}" class="f-{lab}" rx="1">'
                    f"<title>{lab}: {cnt} in [{edges[i]:.4g}, {edges[i + 1]:.4g})</title>"
                    "</rect>"
                )
    o.append(f'<line x1="{L}" x2="{W - R}" y1="{T + ph}" y2="{T + ph}" stroke="#8c959f"/>')
    for t in _nice_ticks(xmin, xmax, 7):
        o.append(
            f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{T + ph}" y2="{T + ph + 4}" '
            f'stroke="#8c959f"/><text x="{X(t):.1f}" y="{T + ph + 16}" '
            f'text-anchor="middle">{t:.4g}</text>'
        )
    tx = X(threshold)
    anchor = "end" if tx > L + pw * 0.7 else "start"
    dx = -5 if anchor == "end" else 5
    o.append(
        f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{T - 8}" y2="{T + ph}" stroke="#1f2328" '
        f'stroke-width="1.5" stroke-dasharray="5 3"/><text x="{tx + dx:.1f}" y="{T - 1}" '
        f'text-anchor="{anchor}" fill="#1f2328" font-weight="600">'
        f"threshold {threshold:.6g}</text>"
    )
    o.append(f'<text x="{L + pw / 2}" y="{H - 4}" text-anchor="middle">image score</text>')
    lx = L + 6
    for lab in ("PASS", "FAIL"):
        o.append(
            f'<rect x="{lx}" y="4" width="10" height="10" rx="2" class="f-{lab}"/>'
            f'<text x="{lx + 14}" y="13">{lab}</text>'
        )
        lx += 56
    o.append("</svg>")
    return "".join(o)


_VERDICT_RANK = {Verdict.PASS: 0, Verdict.ERROR: 1, Verdict.FAIL: 2}


def _score_decimals(rows: Sequence[ReportRow]) -> int:
    """Decimals giving ~4 significant digits on the largest score, shared by the whole column."""
    top = max((abs(s) for r in rows if (s := _finite(r.score)) is not None), default=1.0)
    return int(np.clip(3 - math.floor(math.log10(top)) if top > 0 else 3, 0, 8))


_NA = '<span class="na">&ndash;</span>'


def _num_td(x: float | None, spec: str, extra: str = "") -> str:
    # data-v carries full precision for sorting; '' sorts last in both directions.
    v = "" if x is None else repr(x)
    return f'<td class="num" data-v="{v}"{extra}>{_fmt(x, spec) or _NA}</td>'


def _row_html(i: int, r: ReportRow, decimals: int = 4) -> str:
    path = shown(r.path)
    p = escape(path)
    name, parent = escape(os.path.basename(path) or path), escape(os.path.dirname(path))
    v = Verdict(r.verdict)
    if r.thumbnail_jpeg:
        b64 = base64.b64encode(r.thumbnail_jpeg).decode("ascii")
        thumb = (
            f'<img class="thumb" src="data:image/jpeg;base64,{b64}" alt="{name}" '
            f'data-path="{p}" decoding="async">'
        )
    else:
        thumb = '<div class="nothumb"></div>'
    s, ns, ok = _finite(r.score), _finite(r.normalized_score), v != Verdict.ERROR
    area = f' title="largest {int(r.largest_area_px)} px"' if r.n_regions else ""
    amap = f" &#10;anomaly map: {escape(shown(r.anomaly_map_path))}" if r.anomaly_map_path else ""
    return (
        f'<tr data-i="{i}"><td>{thumb}</td>'
        f'<td class="fn" data-v="{name}" title="{p}{amap}">'
        f"<b>{name}</b><small>{parent}</small></td>"
        f'<td data-v="{_VERDICT_RANK[v]}"><span class="badge b-{v}">{v}</span></td>'
        f"{_num_td(s, f'.{decimals}f')}{_num_td(ns, '.3f')}"
        f"{_num_td(float(r.n_regions) if ok else None, '.0f', area)}"
        f'<td class="errtxt" data-v="{escape(shown(r.error))}">{escape(shown(r.error))}</td></tr>'
    )


def write_html_report(
    rows: Sequence[ReportRow],
    out_path: str | os.PathLike[str],
    *,
    threshold: float,
    title: str = "Inspection report",
    model_info: Mapping[str, str] | None = None,
) -> Path:
    """Writes a single self-contained HTML report.

    Rows are listed by score, highest first (ERROR rows last); the table can be re-sorted
    in the browser by clicking a column header.

    Args:
        rows: one row per inspected image.
        out_path: the .html file to write (parent folders are created).
        threshold: image-score threshold, drawn on the histogram.
        title: page title and heading.
        model_info: key/value pairs shown in the header (model id, family, backbone, ...).
            A ``threshold`` entry is added when missing.

    Returns:
        The path written.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {str(k): str(v) for k, v in (model_info or {}).items()}
    info.setdefault("threshold", f"{threshold:.6g}")
    summ = summarize(rows)
    yld = "&ndash;" if summ["yield_percent"] is None else f"{summ['yield_percent']:.1f}%"
    ordered = sorted(
        enumerate(rows),
        key=lambda ir: (_finite(ir[1].score) is None, -(_finite(ir[1].score) or 0.0), ir[0]),
    )
    t = escape(shown(title))
    kv = "".join(
        f"<tr><th>{escape(shown(k))}</th><td>{escape(shown(v))}</td></tr>" for k, v in info.items()
    )
    counts = "".join(
        f'<div class="{c}"><span>{lab}</span>{val}</div>'
        for c, lab, val in (
            ("", "Total", summ["total"]),
            ("c-pass", "Pass", summ["pass"]),
            ("c-fail", "Fail", summ["fail"]),
            ("c-err", "Error", summ["error"]),
            ("", "Yield", yld),
        )
    )
    dec = _score_decimals(rows)
    body_rows = "\n".join(_row_html(n, r, dec) for n, (_, r) in enumerate(ordered))
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{t}</title><style>{_CSS}</style></head><body>",
        f'<header><h1>{t}</h1><div class="sub">Generated '
        f"{escape(datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z'))}</div></header>",
        '<main><div class="top"><div class="side">',
        f'<div class="card"><h2>Model</h2><table class="kv">{kv}</table></div>',
        f'<div class="card"><h2>Summary</h2><div class="counts">{counts}</div></div></div>',
        f'<div class="card hist"><h2>Score distribution</h2>'
        f"{_histogram_svg(rows, float(threshold))}</div></div>",
        '<table class="res"><thead><tr><th>Overlay</th><th data-sort="str">File</th>'
        '<th data-sort="num">Verdict</th>'
        '<th data-sort="num" class="num" aria-sort="descending">Score</th>'
        '<th data-sort="num" class="num">Normalised</th><th data-sort="num" class="num">'
        'Regions</th><th data-sort="str">Error</th></tr></thead>',
        f"<tbody>\n{body_rows}\n</tbody></table>",
        "" if rows else '<p class="empty">No images in this report.</p>',
        '</main><div id="viewer"><img alt=""><div></div></div>',
        f"<script>{_JS}</script></body></html>\n",
    ]
    write_text(out, "".join(parts))
    return out
