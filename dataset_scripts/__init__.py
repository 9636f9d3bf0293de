"""Driving-dataset builders, one module each, found by name through one registry."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import logging
import pkgutil

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from unify.core.errors import UnifyError

logger = logging.getLogger(__name__)


@functools.cache
def builder_registry() -> dict[str, type[DrivingDatasetBuilder]]:
    """NAME -> builder class, for every builder module in this package (imported on the first call, then cached).

    A module counts when it defines a `DrivingDatasetBuilder` subclass with a NAME; modules of shared helpers
    (base, native_files, synthetic_scenes) define none. A NAME registered twice is logged as a warning and the
    module that sorts first keeps it.
    """
    registry: dict[str, type[DrivingDatasetBuilder]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DrivingDatasetBuilder) and cls.__module__ == module.__name__ and cls.NAME:
                if cls.NAME in registry:
                    logger.warning(
                        "builder name %r registered twice (%s and %s); keeping the first",
                        cls.NAME,
                        registry[cls.NAME].__module__,
                        cls.__module__,
                    )
                    continue
                registry[cls.NAME] = cls
    return registry


def get_builder_class(name: str) -> type[DrivingDatasetBuilder]:
    """The builder registered as `name`; UnifyError naming the close matches and every known name otherwise."""
    registry = builder_registry()
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "."
        raise UnifyError(f"unknown dataset {name!r}{hint} Known datasets: {', '.join(sorted(registry))}")
    return registry[name]


__all__ = ["DrivingConfig", "DrivingDatasetBuilder", "RawSample", "builder_registry", "get_builder_class"]
