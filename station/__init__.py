"""The station's core, free of Qt, torch and training.

What a station holds (loaded model, thresholds and who set them, mode, source, counters) and
what drives it besides the mouse (PLC transports, recipes, drift and health monitors, image
retention) lives here, so the operator window (``gui``), a PLC link and tests all drive the
same object. ``gui`` observes it and turns its events into Qt signals.
"""
