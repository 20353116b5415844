"""Numbered steps of a browser flow, each leaving a screenshot.

``artifacts/browser/<flow>/NN-step.png`` is taken when the step ends, passed or failed, and a
failure names the step and its screenshot, so a red run says where the flow broke and shows it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class StepFailed(AssertionError):
    pass


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Steps:
    def __init__(self, page: Any, directory: Path) -> None:
        self.page = page
        self.directory = directory
        self.number = 0
        # Old screenshots of this flow would mix with this run's.
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.number += 1
        path = self.directory / f"{self.number:02d}-{slug(name)}.png"
        try:
            yield
        except Exception as err:
            self._screenshot(path)
            raise StepFailed(
                f"step {self.number:02d} {name!r} failed (screenshot: {path}; page: "
                f"{self.page.url}): {err}"
            ) from err
        self._screenshot(path)

    def _screenshot(self, path: Path) -> None:
        try:
            self.page.screenshot(path=str(path), full_page=True)
        except Exception as err:  # a crashed page must not hide the step's own error
            path.with_suffix(".txt").write_text(f"no screenshot: {err}\n")
