"""The handshake's station port on top of the station state: the PLC drives the real station.

A PLC trigger becomes ``StationState.request_trigger(part_id, by="plc")``, exactly what the
Trigger button does; the station's own inference thread takes, judges and records the part,
and ``inspect`` returns when the ``PartJudged`` event with that part id arrives. A recipe is
applied through the state between parts (the handshake only selects one between parts): its
model is requested and awaited, then its threshold, save policy and camera settings are set,
and ``RecipeSelected`` announces it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

from inspector.verdict import normalize
from station.alarms import AlarmCode
from station.events import ModelChanged, ModelFailed, PartJudged, SetBy, StateEvent
from station.line.handshake import PartError, PartResult, UnknownRecipe
from station.line.signals import LineVerdict
from station.recipes import Recipe, RecipeBook
from station.state import StationState

log = logging.getLogger(__name__)

VERDICTS = {"PASS": LineVerdict.OK, "FAIL": LineVerdict.NG}
MODEL_LOAD_S = 120.0  # a first load (ONNX session, or a torch import) on a busy station
CameraApply = Callable[[float | None, float | None], None]


def save_policy(recipe: Recipe) -> str:
    """The station save policy a recipe's retention asks for: every part when OK parts are
    kept (retention thins them), else only NG and ERROR."""
    return "all" if recipe.save.ok_every else "fail"


class StatePort:
    """Implements ``StationPort`` by driving a ``StationState``.

    Args:
        state: the station's state; its inference thread judges the parts.
        recipes: the workspace's recipes (the PLC's RecipeIndex picks one).
        apply_camera: sets exposure (µs) and gain (dB) on the camera, where the source
            supports it; None where it does not.
    """

    def __init__(
        self, state: StationState, recipes: RecipeBook, apply_camera: CameraApply | None = None
    ) -> None:
        self.state = state
        self.recipes = recipes
        self.apply_camera = apply_camera
        self.recipe: Recipe | None = None
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[PartJudged]]] = {}
        self._model_wait: tuple[asyncio.AbstractEventLoop, asyncio.Future[StateEvent]] | None = None
        self._unsubscribe = state.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    # -- StationPort -------------------------------------------------------------------------

    async def inspect(self, part_id: str, recipe_index: int) -> PartResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PartJudged] = loop.create_future()
        with self._lock:
            self._waiting[part_id] = (loop, future)
        try:
            if self.state.mode != "triggered":
                raise PartError(AlarmCode.INSPECTION, "the station is not in triggered mode")
            self.state.request_trigger(part_id, by="plc")
            judged = await future
        finally:
            with self._lock:
                self._waiting.pop(part_id, None)
        return self._answer(judged)

    async def select_recipe(self, index: int) -> str:
        try:
            recipe = self.recipes.get(index)
        except KeyError as exc:
            raise UnknownRecipe(index) from exc
        await self._load_model(recipe)
        if recipe.image_threshold is not None:
            self.state.set_threshold(recipe.image_threshold, by=SetBy.RECIPE)
        self.state.set_save_policy(save_policy(recipe))
        if self.apply_camera is not None and (
            recipe.camera.exposure_us is not None or recipe.camera.gain_db is not None
        ):
            self.apply_camera(recipe.camera.exposure_us, recipe.camera.gain_db)
        self.recipe = recipe
        self.state.select_recipe(recipe.product, by="plc")
        log.info(
            "recipe %d (%s) applied: model %s, threshold %s, save %s",
            index,
            recipe.product,
            self.state.model.model_id if self.state.model else "?",
            recipe.image_threshold if recipe.image_threshold is not None else "bundle's",
            save_policy(recipe),
        )
        return recipe.product

    # -- helpers -----------------------------------------------------------------------------

    async def _load_model(self, recipe: Recipe) -> None:
        path = recipe.model_path(self.recipes.workspace)
        loaded = self.state.model
        if loaded is not None and _same(loaded.path, path):
            if recipe.model_id and loaded.model_id != recipe.model_id:
                raise UnknownRecipe(f"recipe {recipe.index} wants model {recipe.model_id}, "
                                    f"{path} holds {loaded.model_id}")  # fmt: skip
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StateEvent] = loop.create_future()
        with self._lock:
            self._model_wait = (loop, future)
        try:
            self.state.request_model(str(path), by="recipe")
            event = await asyncio.wait_for(future, MODEL_LOAD_S)
        finally:
            with self._lock:
                self._model_wait = None
        if isinstance(event, ModelFailed):
            raise RuntimeError(f"recipe {recipe.index}: model {path}: {event.reason}")
        assert isinstance(event, ModelChanged)
        if recipe.model_id and event.model.model_id != recipe.model_id:
            raise UnknownRecipe(
                f"recipe {recipe.index} wants model {recipe.model_id}, "
                f"{path} holds {event.model.model_id}"
            )

    def _on_event(self, event: StateEvent) -> None:
        """Any thread: resolve the waiting part or model load on its loop."""
        if isinstance(event, PartJudged):
            with self._lock:
                waiting = self._waiting.get(event.result.part_id)
            if waiting is not None:
                _resolve(*waiting, event)
        elif isinstance(event, ModelChanged | ModelFailed):
            with self._lock:
                model_wait = self._model_wait
            if model_wait is not None:
                _resolve(*model_wait, event)

    def _answer(self, judged: PartJudged) -> PartResult:
        result = judged.result
        verdict = VERDICTS.get(result.verdict)
        if verdict is None:
            # No frame with the camera down is the camera's fault; with it live, the frame's.
            if "no frame" not in result.error:
                code = AlarmCode.INSPECTION
            elif self.state.source_status.status == "live":
                code = AlarmCode.NO_FRAME
            else:
                code = AlarmCode.CAMERA
            raise PartError(code, result.error or f"verdict {result.verdict}")
        model = self.state.model
        score = result.score
        if model is not None and model.model_id == result.model_id:
            score = float(normalize(result.score, result.threshold, model.score_stats.good_median))
        return PartResult(
            verdict,
            score,
            result.model_id,
            None,
            result.timestamp or None,
            dict(result.timings_ms),
            raw_score=result.score if math.isfinite(result.score) else math.nan,
        )


def _resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future, value: object) -> None:
    def set_result() -> None:
        if not future.done():
            future.set_result(value)

    if not loop.is_closed():
        loop.call_soon_threadsafe(set_result)


def _same(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)
