"""Tests for inspector.report: self-contained HTML, CSV and JSON outputs."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from inspector.overlay import overlay_thumbnail_jpeg
from inspector.report import (
    CSV_COLUMNS,
    ReportRow,
    summarize,
    write_html_report,
    write_results_csv,
    write_results_json,
)
from inspector.result import DefectRegion, InspectionResult, Verdict

NASTY = "/data/cam<1>/a&b \"quoted\" 'single'.png"
THRESHOLD = 0.734521


class _Collector(HTMLParser):
    """Counts tags and checks that every opened container tag gets closed in order."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "rect", "line", "path"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.body_rows = 0
        self.in_tbody = False
        self.imgs: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self.in_tbody = True
        if tag == "tr" and self.in_tbody:
            self.body_rows += 1
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # self-closing SVG elements (<rect .../>) open nothing

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_tbody = False
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


@pytest.fixture()
def rows() -> list[ReportRow]:
    img = np.full((60, 80, 3), 120, np.uint8)
    amap = np.zeros((60, 80), np.float32)
    amap[20:30, 40:50] = 2.0
    thumb = overlay_thumbnail_jpeg(img, amap, 0.0, 2.0, max_side=32)
    result = InspectionResult(
        score=1.5,
        normalized_score=0.9,
        verdict=Verdict.FAIL,
        threshold=THRESHOLD,
        anomaly_map=amap,
        regions=[DefectRegion(40, 20, 10, 10, 100, 2.0), DefectRegion(1, 1, 2, 2, 4, 1.0)],
    )
    return [
        ReportRow(
            path="/data/good_1.png",
            verdict=Verdict.PASS,
            score=0.41234567,
            normalized_score=0.28,
            thumbnail_jpeg=thumb,
        ),
        ReportRow.from_result(
            "/data/bad_1.png", result, thumbnail_jpeg=thumb, anomaly_map_path="/out/bad_1.npy"
        ),
        ReportRow(
            path=NASTY, verdict=Verdict.PASS, score=0.5, normalized_score=0.34, thumbnail_jpeg=thumb
        ),
        ReportRow.from_error("/data/broken.png", OSError("cannot identify image file")),
    ]


def test_summarize_counts(rows: list[ReportRow]) -> None:
    assert summarize(rows) == {
        "total": 4,
        "pass": 2,
        "fail": 1,
        "error": 1,
        "yield_percent": pytest.approx(66.67),
    }
    assert summarize([])["yield_percent"] is None


def test_from_result_and_from_error(rows: list[ReportRow]) -> None:
    bad, err = rows[1], rows[3]
    assert (bad.n_regions, bad.largest_area_px, bad.verdict) == (2, 100, Verdict.FAIL)
    assert err.verdict == Verdict.ERROR and err.score is None
    assert err.error == "OSError: cannot identify image file"


def test_html_report_is_self_contained_and_escaped(rows: list[ReportRow], tmp_path: Path) -> None:
    out = write_html_report(
        rows,
        tmp_path / "sub" / "report.html",
        threshold=THRESHOLD,
        title="Batch <7> & co",
        model_info={"model id": "m-<1>", "family": "padim", "backbone": "resnet18"},
    )
    assert out.exists()
    html = out.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:|#)[a-z]+:""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert NASTY not in html
    assert "/data/cam&lt;1&gt;/a&amp;b &quot;quoted&quot; &#x27;single&#x27;.png" in html
    assert "Batch &lt;7&gt; &amp; co" in html and "m-&lt;1&gt;" in html
    assert "0.734521" in html  # threshold on the histogram and in the model table

    parsed = _parse(out)
    assert parsed.body_rows == len(rows)
    thumbs = [i for i in parsed.imgs if "thumb" in (i.get("class") or "")]
    assert len(thumbs) == 3
    assert all((i["src"] or "").startswith("data:image/jpeg;base64,/9j/") for i in thumbs)
    text = " ".join(parsed.text)
    assert NASTY.rsplit("/", 1)[1] in text  # the unescaped name is what the browser shows
    # Summary counts, in the order Total, Pass, Fail, Error.
    counts = re.findall(r"<span>(Total|Pass|Fail|Error)</span>(\d+)", html)
    assert counts == [("Total", "4"), ("Pass", "2"), ("Fail", "1"), ("Error", "1")]
    assert "66.7%" in html


def test_html_default_order_is_score_descending_errors_last(
    rows: list[ReportRow], tmp_path: Path
) -> None:
    html = write_html_report(
        rows, tmp_path / "r.html", threshold=THRESHOLD, title="t", model_info={}
    ).read_text(encoding="utf-8")
    order = [html.index(n) for n in ("bad_1.png", "single", "good_1.png", "broken.png")]
    assert order == sorted(order)


def test_html_report_with_zero_rows(tmp_path: Path) -> None:
    out = write_html_report(
        [], tmp_path / "empty.html", threshold=1.0, title="Empty", model_info={}
    )
    parsed = _parse(out)
    assert parsed.body_rows == 0
    html = out.read_text(encoding="utf-8")
    assert "No scores to plot" in html and "<svg" not in html


def test_html_report_all_errors(tmp_path: Path) -> None:
    rows = [ReportRow.from_error(f"/x/{i}.png", "boom") for i in range(3)]
    out = write_html_report(
        rows, tmp_path / "err.html", threshold=0.5, title="E", model_info={"family": "patchcore"}
    )
    assert _parse(out).body_rows == 3
    assert "No scores to plot" in out.read_text(encoding="utf-8")


def test_html_histogram_with_identical_scores(tmp_path: Path) -> None:
    rows = [ReportRow(f"/x/{i}.png", Verdict.PASS, 0.3, 0.2) for i in range(5)]
    out = write_html_report(rows, tmp_path / "h.html", threshold=0.3, title="H", model_info={})
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html and "threshold 0.3" in html
    _parse(out)


def test_csv_exact_header_and_round_trip(rows: list[ReportRow], tmp_path: Path) -> None:
    path = write_results_csv(rows, tmp_path / "results.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert (
        lines[0] == "path,score,normalized_score,verdict,error,n_regions,largest_area_px,"
        "anomaly_map"
    )
    assert tuple(lines[0].split(",")) == CSV_COLUMNS
    with path.open(newline="", encoding="utf-8") as f:
        recs = list(csv.DictReader(f))
    assert len(recs) == len(rows)
    assert recs[0]["score"] == "0.412346"  # 6 significant digits
    assert recs[1] == {
        "path": "/data/bad_1.png",
        "score": "1.5",
        "normalized_score": "0.9",
        "verdict": "FAIL",
        "error": "",
        "n_regions": "2",
        "largest_area_px": "100",
        "anomaly_map": "/out/bad_1.npy",
    }
    assert recs[2]["path"] == NASTY
    assert recs[3]["score"] == "" and recs[3]["normalized_score"] == ""
    assert recs[3]["verdict"] == "ERROR" and "cannot identify" in recs[3]["error"]


def test_json_has_summary_and_no_base64(rows: list[ReportRow], tmp_path: Path) -> None:
    summary = summarize(rows) | {"model_id": "m1"}
    path = write_results_json(rows, tmp_path / "results.json", summary)
    text = path.read_text(encoding="utf-8")
    assert "base64" not in text and "/9j/" not in text
    doc = json.loads(text)
    assert doc["summary"] == json.loads(json.dumps(summary))
    assert [set(r) for r in doc["results"]] == [set(CSV_COLUMNS)] * len(rows)
    assert doc["results"][3]["score"] is None and doc["results"][1]["n_regions"] == 2
    assert doc["results"][2]["path"] == NASTY


def test_empty_csv_and_json(tmp_path: Path) -> None:
    csv_path = write_results_csv([], tmp_path / "e.csv")
    assert csv_path.read_text(encoding="utf-8").splitlines() == [",".join(CSV_COLUMNS)]
    doc = json.loads(write_results_json([], tmp_path / "e.json").read_text(encoding="utf-8"))
    assert doc == {"summary": summarize([]), "results": []}
