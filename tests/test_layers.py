"""The layering rules of docs/architecture.md, checked on every import in the code (function-local
ones included): a lower app never imports a higher one.

    iotplatform (settings, tenancy, live, beat) → devices → telemetry → analytics → alerts
        → frontend, demo (the top: they may use everything below)

- an app's ``api/`` package may also read any app's ``selectors`` (an API shows what others
  know, through their read functions only);
- the composition roots (``iotplatform/asgi.py``, ``urls.py``, ``api_urls.py``, ``celery.py``
  and the settings) wire everything together and may import anything;
- the simulator is standalone: it talks to the platform over its public device API only, and
  no app but ``demo`` imports it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["iotplatform", "devices", "telemetry", "analytics", "alerts", "frontend", "demo"]
APPS = [*ORDER, "simulator"]
# What each app may import besides itself.
ALLOWED: dict[str, set[str]] = {app: set(ORDER[:i]) for i, app in enumerate(ORDER)}
ALLOWED["frontend"] = set(ORDER[:5])
ALLOWED["demo"] = set(ORDER[:5]) | {"simulator"}
ALLOWED["simulator"] = set()
COMPOSITION_ROOTS = {
    "iotplatform/asgi.py",
    "iotplatform/urls.py",
    "iotplatform/api_urls.py",
    "iotplatform/celery.py",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import; ``from app import x`` counts as importing ``app.x``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if "." in node.module:
                found.append((node.lineno, node.module))
            else:
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(app: str, root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / app).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in COMPOSITION_ROOTS or relative.startswith("iotplatform/settings/"):
            continue
        in_api = "/api/" in relative
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top not in APPS or top == app or top in ALLOWED[app]:
                continue
            if in_api and module.endswith(".selectors"):
                continue
            out.append(f"{relative}:{line} imports {module}")
    return out


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_a_higher_one(app: str) -> None:
    assert violations(app) == []


def test_the_check_catches_upward_imports_even_inside_functions(tmp_path: Path) -> None:
    (tmp_path / "devices" / "api").mkdir(parents=True)
    (tmp_path / "devices" / "services.py").write_text(
        "from iotplatform.live import publish\n"
        "def f():\n    from frontend.views import home\n    from telemetry import selectors\n"
    )
    (tmp_path / "devices" / "api" / "views.py").write_text(
        "from telemetry import selectors\nfrom alerts.selectors import alert_list\n"
        "from telemetry.services import x\n"
    )
    assert violations("devices", tmp_path) == [
        "devices/api/views.py:3 imports telemetry.services",
        "devices/services.py:3 imports frontend.views",
        "devices/services.py:4 imports telemetry.selectors",
    ]
