"""The current role, always in view, with the lock/unlock button beside it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

COLOURS = {"operator": "#455a64", "engineer": "#e65100", "admin": "#b71c1c"}


class RoleBar(QWidget):
    """Signals: unlock_requested(), lock_requested()."""

    unlock_requested = Signal()
    lock_requested = Signal()

    def __init__(self, role: str = "operator", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.button = QPushButton()
        self.button.clicked.connect(self._clicked)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.button)
        self.set_role(role)

    def set_role(self, role: str) -> None:
        self.role = role
        colour = COLOURS.get(role, "#455a64")
        self.label.setText(f" {role.upper()} ")
        self.label.setStyleSheet(
            f"background:{colour}; color:white; font-weight:bold; padding:3px 8px;"
            "border-radius:4px;"
        )
        unlocked = role != "operator"
        self.button.setText("Lock" if unlocked else "Unlock…")
        self.button.setToolTip(
            "Back to operator" if unlocked else "Unlock as engineer or admin with the PIN"
        )

    def _clicked(self) -> None:
        (self.lock_requested if self.role != "operator" else self.unlock_requested).emit()
