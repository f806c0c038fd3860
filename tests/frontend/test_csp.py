"""Pages carry a Content-Security-Policy that forbids inline scripts, and none of our templates
needs one (the browser tests render every page under the policy)."""

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/devices/", "/admin/", "/api/docs/"])
def test_pages_forbid_inline_scripts(path: str, page_as: Any, admin: Any) -> None:
    response = page_as(admin).get(path, follow=True)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    scripts = re.search(r"script-src ([^;]+)", policy)
    assert scripts and scripts.group(1) == "'self'", policy
    assert "frame-ancestors 'none'" in policy


def test_no_template_has_inline_script_or_handler() -> None:
    for template in (ROOT / "frontend" / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (template, tag)
        assert not re.search(r"\son[a-z]+=", text), template
