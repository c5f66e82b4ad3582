"""A Qt-free station for the handshake: grab a frame for each trigger and judge it with a model.

`LineRunner` implements `StationPort`. Grabbing and judging run one at a time on a worker
thread, and a recipe switch runs on the same thread, so a switch always falls between parts.
The camera opens when a recipe is selected, so it is armed before the first pulse of a
hardware trigger. A camera that fails is closed and reopened at once, and again at the next
part where that fails (the failed part gets ERROR and the CAMERA alarm; the next one that
delivers a frame clears it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from inspector.capture.base import CaptureSource, Frame, FrameError, SourceError
from inspector.result import InspectionResult, Verdict
from inspector.runtime import Inspector
from station.alarms import AlarmCode
from station.line.handshake import PartError, PartResult, UnknownRecipe
from station.line.signals import LineVerdict
from station.recipes import Recipe, RecipeBook

log = logging.getLogger(__name__)

LINE_VERDICTS = {Verdict.PASS: LineVerdict.OK, Verdict.FAIL: LineVerdict.NG}


class LineRunner:
    """Judges parts for the handshake with the model and camera settings of the active recipe.

    Args:
        source: the camera (unopened is fine; it is opened at the first part). A source with
            a ``trigger()`` method in software-trigger mode is triggered for every part.
        recipes: the workspace's recipes; each names its model bundle.
        backend: runtime for the models ("onnxruntime", "torch", "auto").
        on_result: called on the worker thread with each part's recipe, frame and result
            (drift monitors, retention); exceptions there are logged, never fatal.
    """

    def __init__(
        self,
        source: CaptureSource,
        recipes: RecipeBook,
        backend: str = "onnxruntime",
        on_result: Callable[[Recipe, Frame, InspectionResult], None] | None = None,
    ) -> None:
        self.source = source
        self.recipes = recipes
        self.backend = backend
        self.on_result = on_result
        self.recipe: Recipe | None = None
        self.inspector: Inspector | None = None
        self._models: dict[Path, Inspector] = {}
        self._open = False
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="line-runner")

    async def inspect(self, part_id: str, recipe_index: int) -> PartResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._inspect, part_id)

    async def select_recipe(self, index: int) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._select, index)

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        self.source.close()
        for model in self._models.values():
            model.close()
        self._models.clear()

    # -- on the worker thread ------------------------------------------------------------

    def _select(self, index: int) -> str:
        try:
            recipe = self.recipes.get(index)
        except KeyError as exc:
            raise UnknownRecipe(index) from exc
        path = recipe.model_path(self.recipes.workspace)
        model = self._models.get(path)
        if model is None:
            model = Inspector.load(path, backend=self.backend)  # BundleError names the file
            self._models[path] = model
        if recipe.model_id and model.model_id != recipe.model_id:
            raise UnknownRecipe(
                f"recipe {index} wants model {recipe.model_id}, {path} holds {model.model_id}"
            )
        if recipe.image_threshold is not None:
            model.set_thresholds(image=recipe.image_threshold)
        self.recipe, self.inspector = recipe, model
        try:
            if self._open:
                self._apply(recipe)
        except SourceError as exc:  # the camera went away between parts
            log.warning("camera settings of recipe %d not set: %s", index, exc)
            self._open = False
            self.source.close()
        if not self._open:
            self._reopen()
        log.info("recipe %d: %s, model %s (%s)", index, recipe.product, model.model_id, path)
        return recipe.product

    def _apply(self, recipe: Recipe) -> None:
        apply = getattr(self.source, "apply", None)
        if apply is not None:
            apply(recipe.camera.exposure_us, recipe.camera.gain_db)

    def _open_source(self) -> None:
        self.source.open()
        self._open = True
        if self.recipe is not None:
            self._apply(self.recipe)

    def _reopen(self) -> None:
        """Open the camera now so it is armed for the next part; a failure waits for that
        part, which reports it."""
        try:
            self._open_source()
        except SourceError as exc:
            self._open = False
            self.source.close()
            log.warning("camera not open yet (%s); trying again at the next part", exc)

    def _grab(self) -> Frame:
        try:
            if not self._open:
                self._open_source()
            trigger = getattr(self.source, "trigger", None)
            settings = getattr(self.source, "settings", None)
            if trigger is not None and getattr(settings, "trigger", "") == "software":
                trigger()
            frame = self.source.read()
        except FrameError as exc:
            raise PartError(AlarmCode.NO_FRAME, str(exc)) from exc
        except SourceError as exc:
            self._open = False
            self.source.close()
            self._reopen()
            raise PartError(AlarmCode.CAMERA, str(exc)) from exc
        if frame is None:
            raise PartError(AlarmCode.NO_FRAME, f"{self.source.label}: no frame")
        return frame

    def _inspect(self, part_id: str) -> PartResult:
        model, recipe = self.inspector, self.recipe
        if model is None or recipe is None:
            raise PartError(AlarmCode.UNKNOWN_RECIPE, "no recipe selected")
        t0 = time.perf_counter()
        frame = self._grab()
        grab_ms = (time.perf_counter() - t0) * 1e3
        try:
            result = model.inspect(frame.image)
        except Exception as exc:  # a model failing on one frame is one ERROR part, not a stop
            log.exception("part %r: inspection failed", part_id)
            raise PartError(AlarmCode.INSPECTION, f"inspection failed: {exc}") from exc
        if self.on_result is not None:
            try:
                self.on_result(recipe, frame, result)
            except Exception:
                log.exception("part %r: result hook failed", part_id)
        timings: dict[str, Any] = {"grab": grab_ms, **result.timings_ms}
        return PartResult(
            LINE_VERDICTS.get(result.verdict, LineVerdict.ERROR),
            result.normalized_score,
            model.model_id,
            frame.image,
            frame.timestamp,
            timings,
            raw_score=result.score,
        )
