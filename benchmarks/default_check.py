"""The rule a new default must pass: no set loses accuracy against the stored default.

Every benchmark run of a family with a stored default compares each set's image and pixel
AUROC, averaged over the seeds run, with the stored default's mean over its seeds, and flags
a set whose loss exceeds 0.5 point (``LOSS``: not a default) or the stored default's seed
spread (``beyond spread``: look before believing the other sets). A run of one seed is
compared too, but its flags say so: only three seeds judge a default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# The stored default of each family: one file per seed (a file may also hold several seeds).
STORED_DEFAULTS = {
    # Exact search beyond the held-out good patches (the default), 3 seeds per set.
    "cnn-cluster": [
        RESULTS / f"cnn-cluster-heldout-bound-{name}.json"
        for name in ("bottle", "screw", "magnetic_tile", "sample")
    ],
}
MAX_LOSS = 0.005  # AUROC: half a point
METRICS = ("image_auroc", "pixel_auroc")


def set_name(category: str) -> str:
    """A set's name independent of where the data lies: its last two path parts."""
    return "/".join(Path(category).parts[-2:])


def load_runs(paths: list[Path]) -> dict[str, dict[int, dict[str, float]]]:
    """Per set, per seed, the metrics of benchmark result files.

    Raises:
        ValueError: a file that is unreadable, is not a benchmark result, or holds the
            same set and seed twice (which run would be the default?).
    """
    runs: dict[str, dict[int, dict[str, float]]] = {}
    for path in paths:
        try:
            record = json.loads(Path(path).read_text())
            file_seed = int(record.get("settings", {}).get("seed", 0))
            rows = record["results"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a benchmark result file ({exc})") from exc
        for row in rows:
            name, seed = set_name(row["category"]), int(row.get("seed", file_seed))
            if seed in runs.get(name, {}):
                raise ValueError(f"{path}: {name} seed {seed} is already in another file")
            runs.setdefault(name, {})[seed] = {m: float(row[m]) for m in METRICS}
    return runs


def summarise(per_seed: dict[int, dict[str, float]]) -> dict[str, Any]:
    """Mean and spread (max - min over seeds) of each metric."""
    out: dict[str, Any] = {"seeds": sorted(per_seed)}
    for m in METRICS:
        values = [r[m] for r in per_seed.values()]
        out[m] = {"mean": sum(values) / len(values), "spread": max(values) - min(values)}
    return out


def compare(
    new: dict[str, dict[int, dict[str, float]]], stored: dict[str, dict[int, dict[str, float]]]
) -> list[dict[str, Any]]:
    """One row per set of ``new``: its means and spreads, the change against ``stored``'s
    mean and the flag of each metric (``ok``, ``beyond spread``, ``LOSS``, ``no default``).

    A seed the stored default lacks is compared with the stored mean all the same: the
    figure is the change of the mean over seeds, the flag is what the rule judges.
    """
    rows = []
    for name in sorted(new):
        row: dict[str, Any] = {"set": name, **summarise(new[name])}
        ref = summarise(stored[name]) if name in stored else None
        row["stored_seeds"] = ref["seeds"] if ref else []
        for m in METRICS:
            if ref is None:
                row[m].update(change=None, flag="no default")
                continue
            change = row[m]["mean"] - ref[m]["mean"]
            spread = ref[m]["spread"] if len(ref["seeds"]) > 1 else None
            if -change > MAX_LOSS:
                flag = "LOSS"
            elif spread is not None and -change > spread:
                flag = "beyond spread"
            else:
                flag = "ok"
            row[m].update(change=change, stored_mean=ref[m]["mean"], stored_spread=spread)
            row[m]["flag"] = flag
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per set, mean (spread) over seeds, change against the stored default, flag."""

    def cell(r: dict[str, Any], m: str) -> str:
        v = r[m]
        text = f"{v['mean']:.4f} ({v['spread']:.4f})"
        if v["change"] is None:
            return f"{text} | — | {v['flag']}"
        return f"{text} | {100 * v['change']:+.2f} pt | {v['flag']}"

    lines = [
        "| set | seeds | image AUROC mean (spread) | change | flag "
        "| pixel AUROC mean (spread) | change | flag |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seeds = ",".join(str(s) for s in r["seeds"])
        lines.append(
            f"| {r['set']} | {seeds} | {cell(r, 'image_auroc')} | {cell(r, 'pixel_auroc')} |"
        )
    if any(len(r["seeds"]) < 3 for r in rows):
        lines.append("\nFewer than 3 seeds: the flags are indicative; a default is judged on 3.")
    return "\n".join(lines)
