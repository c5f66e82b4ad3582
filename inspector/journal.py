"""The journal of a folder inspection: every judged part on disk as soon as its batch ends.

``results.jsonl`` holds one JSON object a line (a header line with the run's model and
threshold, then one line per part) and ``results.csv`` gets the same rows; both are flushed
and synced after each batch, so a killed run keeps every part judged before the kill. A
resumed run reads the journal, skips the parts in it and appends the rest; the final JSON
and HTML are made from the journal. JSON escapes keep names that are not UTF-8 exactly.
"""

from __future__ import annotations

import base64
import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inspector.atomic import kill_point, write_text
from inspector.report import CSV_COLUMNS, ReportRow, csv_row, write_results_csv
from inspector.result import Verdict

JOURNAL_FILE = "results.jsonl"
CSV_FILE = "results.csv"
# Outputs of a finished run: removed when a new run starts in the folder, so they never
# sit beside a CSV of another run.
FINAL_FILES = ("results.json", "report.html")
_HEADER = "run"


class RunJournal:
    """Append-only record of one run in ``out_dir``.

    Args:
        out_dir: the run's output folder.
        run: what the rows depend on (model id, threshold, ...); a resumed run must match.
        resume: keep the rows of an interrupted run instead of starting afresh.

    Raises:
        ValueError: ``resume`` into a folder whose journal was made with another model or
            threshold (the rows would mix two judgements).
    """

    def __init__(self, out_dir: Path, run: Mapping[str, Any], resume: bool = False) -> None:
        self.path = out_dir / JOURNAL_FILE
        self.csv_path = out_dir / CSV_FILE
        self._rows: dict[str, ReportRow] = {}
        header = {_HEADER: dict(run)}
        if resume and self.path.exists():
            old, rows, end = _read(self.path)
            changed = {k: (old.get(k), v) for k, v in run.items() if old.get(k) != v}
            if changed:
                what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
                raise ValueError(
                    f"{self.path}: cannot resume, the interrupted run used other settings "
                    f"({what}); run without --resume to start afresh"
                )
            os.truncate(self.path, end)  # drop a line torn by the kill
            self._rows = {r.path: r for r in rows}
        else:
            for name in FINAL_FILES:
                (out_dir / name).unlink(missing_ok=True)
            write_text(self.path, json.dumps(header) + "\n")
        # The CSV is rebuilt from the journal: a kill may have torn its last line.
        write_results_csv(self._rows.values(), self.csv_path)
        self._journal = self.path.open("a", encoding="ascii")
        self._csv_file = self.csv_path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_COLUMNS)

    def done(self, path: str) -> bool:
        """Whether the part at absolute ``path`` is already in the journal."""
        return path in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, rows: Sequence[ReportRow]) -> None:
        """Record judged parts; on disk (synced) when this returns."""
        for row in rows:
            self._journal.write(json.dumps(_to_json(row)) + "\n")
            self._rows[row.path] = row
        self._sync(self._journal)
        kill_point("journal-appended")
        self._csv.writerows(csv_row(r) for r in rows)
        self._sync(self._csv_file)

    def rows(self) -> list[ReportRow]:
        """Every recorded part, in the order they were judged."""
        return list(self._rows.values())

    def close(self) -> None:
        self._journal.close()
        self._csv_file.close()

    @staticmethod
    def _sync(f: Any) -> None:
        f.flush()
        os.fsync(f.fileno())


def _to_json(row: ReportRow) -> dict[str, Any]:
    thumb = row.thumbnail_jpeg
    return {
        "path": row.path,
        "verdict": str(Verdict(row.verdict)),
        "score": row.score,
        "normalized_score": row.normalized_score,
        "error": row.error,
        "n_regions": row.n_regions,
        "largest_area_px": row.largest_area_px,
        "anomaly_map": row.anomaly_map_path,
        "thumbnail_jpeg": base64.b64encode(thumb).decode("ascii") if thumb else None,
    }


def _from_json(d: dict[str, Any]) -> ReportRow:
    thumb = d.get("thumbnail_jpeg")
    return ReportRow(
        path=str(d["path"]),
        verdict=Verdict(d["verdict"]),
        score=d.get("score"),
        normalized_score=d.get("normalized_score"),
        error=str(d.get("error", "")),
        n_regions=int(d.get("n_regions", 0)),
        largest_area_px=int(d.get("largest_area_px", 0)),
        thumbnail_jpeg=base64.b64decode(thumb) if thumb else None,
        anomaly_map_path=str(d.get("anomaly_map", "")),
    )


def _read(path: Path) -> tuple[dict[str, Any], list[ReportRow], int]:
    """The header, the rows and the length in bytes of the complete lines of a journal."""
    data = path.read_bytes()
    header: dict[str, Any] = {}
    rows: list[ReportRow] = []
    end = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn by a kill mid-write
        try:
            d = json.loads(line)
            if _HEADER in d:
                header = dict(d[_HEADER])
            else:
                rows.append(_from_json(d))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: damaged journal line {line[:80]!r} ({exc})") from exc
        end += len(line)
    return header, rows, end
