"""One verdict for one score, wherever it is judged: the runtime, the station's re-judge,
the evaluation metrics and the reports (a NaN score once PASSed at the station)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from gui.view_item import ViewItem, judged, rejudge
from inspector.report import ReportRow, summarize, write_html_report, write_results_csv
from inspector.result import InspectionResult, Verdict
from inspector.verdict import ScoreStats, Thresholds, judge, normalized_score
from training.metrics import f1_at_threshold, rates_at_threshold

T = 13.819402456283569
TH = Thresholds(image=T, pixel=math.inf)
STATS = ScoreStats(good_median=10.0, good_max=12.0, good_count=50)

CASES = [
    (math.nan, Verdict.FAIL),
    (math.inf, Verdict.FAIL),
    (-math.inf, Verdict.FAIL),
    (T, Verdict.PASS),  # exactly at the threshold
    (float(np.nextafter(T, math.inf)), Verdict.FAIL),
    (float(np.nextafter(T, -math.inf)), Verdict.PASS),
]


def _result(score: float, verdict: Verdict) -> InspectionResult:
    return InspectionResult(
        score=score,
        normalized_score=normalized_score(score, TH, STATS),
        verdict=verdict,
        threshold=T,
        anomaly_map=np.zeros((8, 8), np.float32),
    )


def _station(score: float, judged_before: str) -> tuple[str, str]:
    """The station's verdicts for a part shown earlier with another verdict."""
    item = ViewItem(
        image=np.zeros((8, 8, 3), np.uint8),
        anomaly_map=np.zeros((8, 8), np.float32),
        scale=1.0,
        score=score,
        verdict=judged_before,
        threshold=T / 2,
    )
    return judged(item, TH), rejudge(item, TH, STATS)[0]


def _metrics(score: float) -> tuple[str, str]:
    """The verdict the evaluation counts, for the part as a good and as a defective one."""
    as_good = rates_at_threshold([score], [0], T)
    as_defect = f1_at_threshold([score], [1], T)
    return (
        "FAIL" if as_good["false_rejects"] else "PASS",
        "FAIL" if as_defect["tp"] else "PASS",
    )


def _report(result: InspectionResult, tmp: Path) -> tuple[str, str, str]:
    row = ReportRow.from_result(tmp / "part.png", result)
    csv_path = write_results_csv([row], tmp / "results.csv")
    with csv_path.open(newline="") as f:
        from_csv = next(csv.DictReader(f))["verdict"]
    html = write_html_report([row], tmp / "report.html", threshold=T).read_text()
    from_html = "FAIL" if "badge b-FAIL" in html else "PASS" if "badge b-PASS" in html else "?"
    counts = summarize([row])
    from_summary = "FAIL" if counts["fail"] else "PASS" if counts["pass"] else "?"
    return from_csv, from_html, from_summary


@pytest.mark.parametrize(("score", "expected"), CASES)
def test_one_score_one_verdict_everywhere(score: float, expected: Verdict, tmp_path) -> None:
    runtime = judge(score, TH)  # what Inspector.inspect_batch calls for every image
    flipped = "PASS" if expected is Verdict.FAIL else "FAIL"
    verdicts = {
        "runtime": str(runtime),
        "station (judged, rejudge)": _station(score, flipped),
        "evaluation metrics (as good, as defective)": _metrics(score),
        "report (csv, html, summary)": _report(_result(score, runtime), tmp_path),
    }
    want = str(expected)
    assert verdicts == {
        "runtime": want,
        "station (judged, rejudge)": (want, want),
        "evaluation metrics (as good, as defective)": (want, want),
        "report (csv, html, summary)": (want, want, want),
    }


def test_an_error_part_stays_an_error_at_the_station() -> None:
    assert _station(math.nan, "ERROR") == ("ERROR", "ERROR")


@pytest.mark.slow
def test_the_runtime_passes_a_part_scored_exactly_at_its_threshold(
    trained_bundle: Path, sample_product: Path
) -> None:
    """A real model's score, with the threshold set to exactly that score and one float
    below it, judged by the runtime and then by the station and the metrics."""
    from inspector.runtime import Inspector

    image = sorted((sample_product / "test" / "good").iterdir())[0]
    insp = Inspector.load(trained_bundle)
    score = insp.inspect(image).score
    stats = insp.meta.score_stats
    for threshold, expected in ((score, "PASS"), (float(np.nextafter(score, -math.inf)), "FAIL")):
        insp.set_thresholds(image=threshold)
        result = insp.inspect(image)
        assert (result.score, str(result.verdict)) == (score, expected)
        item = ViewItem(
            image=np.zeros((8, 8, 3), np.uint8),
            anomaly_map=np.zeros((8, 8), np.float32),
            scale=1.0,
            score=score,
            verdict="PASS",
            threshold=0.0,
        )
        assert rejudge(item, insp.thresholds, stats)[0] == expected
        fails = rates_at_threshold([score], [0], threshold)["false_rejects"]
        assert ("FAIL" if fails else "PASS") == expected


@pytest.mark.slow
def test_the_cli_refuses_a_threshold_that_would_pass_every_part(
    trained_bundle: Path, sample_product: Path, tmp_path: Path, capsys
) -> None:
    from inspector.cli import main
    from inspector.commands import EXIT_USAGE

    image = str(sorted((sample_product / "test" / "good").iterdir())[0])
    out = str(tmp_path / "o")
    args = ["inspect", "--model", str(trained_bundle), "--out", out, image]
    assert main([*args, "--threshold", "1e308"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--threshold" in err and "plausible limit" in err
    assert not (tmp_path / "o" / "results.csv").exists()
