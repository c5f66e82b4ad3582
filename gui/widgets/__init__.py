"""Small station widgets, one per file; the main window composes them."""
