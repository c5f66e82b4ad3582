"""The promoted model versions, newest first: when, which family, trained on what, how it
scored, its threshold, who promoted it, and a note that tells one version from the next."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from inspector.model_store import ModelVersion

COLUMNS = (
    "version",
    "promoted (UTC)",
    "family",
    "training data",
    "image / pixel AUROC",
    "threshold",
    "promoted by",
    "note",
)
NUMBER_ROLE = Qt.ItemDataRole.UserRole


def derived_note(version: ModelVersion, previous: ModelVersion | None) -> str:
    """What changed from the previous version, for a version promoted without a note:
    ``retrained on 243 images, +1.2 pt AUROC vs v3``."""
    s = version.summary
    images = f"{s.images} images" if s.images is not None else "its images"
    if previous is None:
        return f"first version, trained on {images}"
    p = previous.summary
    if version.model_id == previous.model_id:
        parts = [f"same model as v{previous.number}"]
        if s.threshold != p.threshold and s.threshold is not None and p.threshold is not None:
            parts.append(f"threshold {p.threshold:.4g} -> {s.threshold:.4g}")
        return ", ".join(parts)
    parts = [f"retrained on {images}"]
    if s.family and p.family and s.family != p.family:
        parts.append(f"{p.family} -> {s.family}")
    if s.image_auroc is not None and p.image_auroc is not None:
        delta = 100 * (s.image_auroc - p.image_auroc)
        if round(delta, 1) == 0:
            parts.append(f"same AUROC as v{previous.number}")
        else:
            parts.append(f"{delta:+.1f} pt AUROC vs v{previous.number}")
    return ", ".join(parts)


def short_folder(path: str) -> str:
    """The last two parts of a folder (``train/good``): enough to tell data sets apart."""
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) > 2 else path


class VersionsTable(QTableWidget):
    """One row per version; the current one in bold and marked. ``selected_number()`` is the
    version of the selected row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

    def show_versions(self, versions: Sequence[ModelVersion], current: int | None) -> None:
        """``versions`` newest first, as ``ModelStore.versions()`` gives them."""
        self.setRowCount(len(versions))
        for row, v in enumerate(versions):
            previous = versions[row + 1] if row + 1 < len(versions) else None
            s = v.summary
            auroc = (
                f"{s.image_auroc:.3f} / {_or_dash(s.pixel_auroc)}"
                if s.image_auroc is not None
                else "not evaluated"
            )
            data = f"{short_folder(s.data)} ({s.images} images)" if s.data else "–"
            texts = (
                f"v{v.number}" + ("  (current)" if v.number == current else ""),
                v.promoted_at.replace("T", " ")[:16],
                s.family or "unreadable bundle",
                data,
                auroc,
                "–" if s.threshold is None else f"{s.threshold:.4g}",
                v.promoted_by,
                v.note or derived_note(v, previous),
            )
            tips = (
                f"model id {v.model_id}\n{v.path}",
                v.promoted_at,
                f"backbone {s.backbone}" if s.backbone else "",
                s.data,
                "",
                "",
                "",
                "written when promoted" if v.note else "derived from the versions",
            )
            for column, (text, tip) in enumerate(zip(texts, tips, strict=True)):
                item = QTableWidgetItem(text)
                item.setData(NUMBER_ROLE, v.number)
                if tip:
                    item.setToolTip(tip)
                if v.number == current:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.setItem(row, column, item)
        self.resizeColumnsToContents()

    def selected_number(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        item = self.item(rows[0].row(), 0) if rows else None
        return None if item is None else int(item.data(NUMBER_ROLE))

    def row_texts(self, row: int) -> dict[str, str]:
        """The row's cells by column title."""
        return {
            title: (item.text() if (item := self.item(row, c)) is not None else "")
            for c, title in enumerate(COLUMNS)
        }


def _or_dash(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
