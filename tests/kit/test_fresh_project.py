"""docs/testing.md, followed to the letter: a fresh ``startproject`` with the package installed
from its wheel, the settings, URLs and tests the page shows, and that project's own pytest run
with the kit (in a subprocess, so nothing of this suite's settings leaks in)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "testing.md").read_text()
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration  # builds a wheel and runs a second pytest: ~20 s


def block(first_line: str) -> str:
    """The fenced block of docs/testing.md whose first line is ``first_line``."""
    for body in re.findall(r"```\w*\n(.*?)```", PAGE, flags=re.S):
        if body.splitlines()[0] == first_line:
            return body
    raise AssertionError(f"docs/testing.md has no block starting {first_line!r}")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Only the machine's package mirrors (the build backend, hatchling, comes from there).
    local = ("--index-url", "file:///opt/pypi/simple")
    run(BIN / "pip", "wheel", "--no-deps", *local, "-q", "-w", out, ROOT, cwd=ROOT)
    (built,) = out.glob("django_seeclickfix-*.whl")
    return built


def test_the_testing_page_works_in_a_fresh_project_installed_from_the_wheel(wheel, tmp_path):
    # The wheel goes first on the path: the checkout's editable install stays out of the way,
    # and the dependencies (Django, allauth, pytest-django) are the ones already installed.
    site = tmp_path / "site"
    run(BIN / "pip", "install", "--no-deps", "-q", "--target", site, wheel, cwd=tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    run(BIN / "django-admin", "startproject", "mysite", ".", cwd=project)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + block("# mysite/settings.py: append"))
    (project / "mysite" / "urls.py").write_text(block("# mysite/urls.py: replace"))
    (project / "pyproject.toml").write_text(block("# pyproject.toml"))
    (project / "tests").mkdir()
    (project / "tests" / "test_seeclickfix.py").write_text(block("# tests/test_seeclickfix.py"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SCF_"))},
        "PYTHONPATH": str(site),
        "SCF_TOKEN_KEY": Fernet.generate_key().decode(),
    }
    out = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=env)
    assert "2 passed" in out
    where = run(
        sys.executable,
        "-c",
        "import django_seeclickfix; print(django_seeclickfix.__file__)",
        cwd=project,
        env=env,
    )
    assert where.startswith(str(site))
