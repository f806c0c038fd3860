"""A static-files finder for JavaScript that ships inside installed Python packages.

Pages load Plotly from the installed ``plotly`` package (``plotly/package_data/plotly.min.js``),
served by the app itself (whitenoise, collectstatic): no CDN, the machines are offline.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

VENDORED = {"vendor/plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js"}


class _Storage(FileSystemStorage):
    prefix = "vendor"


class PackageFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        found = VENDORED.get(path)
        if found is None or not found.exists():
            return [] if find_all or kwargs.get("all") else None
        return [str(found)] if find_all or kwargs.get("all") else str(found)

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for source in VENDORED.values():
            storage = _Storage(location=str(source.parent))
            yield source.name, storage
