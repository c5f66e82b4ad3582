"""What automatic configuration chose for a trained model, and how its candidates did.

Reads the record training wrote into ``bundle.json`` (``inspector.self_validation``); the
station never imports training code to show it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.self_validation import autoconfig_of, describe, settings_text

SHOWN = 6  # best candidates listed; the full list stays in bundle.json
COLUMNS = (
    "settings", "image AUROC", "pixel AUROC", "defects failed", "drifted goods failed",
    "combined",
)  # fmt: skip


class SelfValidationView(QWidget):
    """A summary line and the best candidates of a bundle's automatic configuration;
    hidden for a model trained without one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(190)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.table)
        self.hide()

    def show_training(self, training: dict[str, Any]) -> None:
        """Show the record in a bundle's training summary (``BundleMeta.training``)."""
        block = autoconfig_of(training)
        lines = describe(block)
        self.summary.setText("\n".join(lines))
        candidates = _best(block.get("candidates", []) if block else [])
        chosen = (block or {}).get("chosen") or {}
        self.table.setRowCount(len(candidates))
        for row, cand in enumerate(candidates):
            mark = " (chosen)" if chosen and _matches(cand, chosen) else ""
            cells = [settings_text(cand.get("settings", {})) + mark]
            cells += [_number(cand.get(k)) for k in ("image_auroc", "pixel_auroc")]
            cells += [_share(cand.get(k)) for k in ("detected", "drift_false_reject_rate")]
            cells.append(_number(cand.get("combined")))
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.setVisible(bool(candidates))
        self.setVisible(bool(lines))

    def shown_lines(self) -> list[str]:
        """The summary as shown (for tests and logs)."""
        return self.summary.text().splitlines()


def _best(candidates: list[Any]) -> list[dict[str, Any]]:
    ok = [c for c in candidates if isinstance(c, dict)]
    return sorted(ok, key=lambda c: -float(c.get("combined", 0.0)))[:SHOWN]


def _matches(cand: dict[str, Any], chosen: dict[str, Any]) -> bool:
    settings = cand.get("settings", {})
    return all(settings.get(k) == v for k, v in chosen.items())


def _number(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, int | float) else "-"


def _share(v: Any) -> str:
    return f"{v:.0%}" if isinstance(v, int | float) else "-"
