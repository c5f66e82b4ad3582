"""How a bundle's settings were chosen, as people read it (no torch: the station uses it).

Training with ``auto = "on"`` records its search in ``bundle.json`` under
``training.autoconfig`` (``training.autoconfig``): what was searched, the figures of every
candidate on held-out good images and synthetic defects, and the choice. ``inspector
train``, ``inspector evaluate`` and the station's Retrain tab all show it with these lines.
"""

from __future__ import annotations

from typing import Any

KEY = "autoconfig"


def autoconfig_of(training: dict[str, Any]) -> dict[str, Any] | None:
    """The search's record in a bundle's training summary; None if it ran without one."""
    block = training.get(KEY)
    return block if isinstance(block, dict) else None


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def settings_text(settings: dict[str, Any]) -> str:
    """``name value`` pairs, e.g. ``normalize_intensity on, layers 2,3``."""
    return ", ".join(f"{k} {_value(v)}" for k, v in settings.items() if k != "aggregation")


def figures_text(figures: dict[str, Any]) -> str:
    """Image and pixel AUROC and the share of defects failed, e.g. ``image AUROC 0.973``."""
    try:
        return (
            f"image AUROC {float(figures['image_auroc']):.3f}, pixel AUROC "
            f"{float(figures['pixel_auroc']):.3f}, {float(figures['detected']):.0%} of the "
            "synthetic defects failed at the target false-reject rate, "
            f"{float(figures['drift_false_reject_rate']):.0%} of the good parts under "
            "drifted light"
        )
    except (KeyError, TypeError, ValueError):
        return "no figures"


def describe(block: dict[str, Any] | None) -> list[str]:
    """Lines telling what the search chose and how the candidates did; [] without a search."""
    if not block:
        return []
    if block.get("note"):
        return [f"automatic configuration: {block['note']}"]
    check = block.get("check_set", {})
    kinds = ", ".join(f"{n} {k}" for k, n in check.get("kinds", {}).items())
    lines = [
        f"automatic configuration in {block.get('seconds', '?')} s: "
        f"{len(block.get('candidates', []))} candidates on {check.get('good_images', '?')} "
        f"held-out good images and {check.get('defective_images', '?')} synthetic defects "
        f"({kinds})"
    ]
    given = block.get("given", {})
    changed = block.get("changed", [])
    chosen = block.get("chosen", {})
    if changed:
        lines.append(
            f"  chose {settings_text({k: chosen[k] for k in changed if k in chosen})}: "
            f"{figures_text(block.get('chosen_figures', {}))} "
            f"(as given: {figures_text(given)})"
        )
    else:
        lines.append(
            f"  kept the settings as given ({settings_text(given.get('settings', {}))}): "
            f"{figures_text(given)}; no candidate separated clearly better"
        )
    explicit = [k for k in block.get("explicit", []) if k != "auto"]
    if explicit:
        lines.append(f"  given explicitly, not searched: {', '.join(explicit)}")
    return lines
