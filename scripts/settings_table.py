"""The README's settings reference, generated from django_seeclickfix.conf.SETTINGS.

``python scripts/settings_table.py`` rewrites the table between the README's markers; a test
fails when the README and the code disagree, so the reference cannot drift.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def settings_table() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django_seeclickfix.conf import SETTINGS

    rows = ["| key | default | what it does |", "|---|---|---|"]
    for name, spec in SETTINGS.items():
        rows.append(f"| `{name}` | `{spec.default!r}` | {spec.doc.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->\n", "<!-- settings:end -->"


def split_readme(text: str) -> tuple[str, str, str]:
    """(before the table, the table, after it)."""
    head, rest = text.split(START, 1)
    table, tail = rest.split(END, 1)
    return head + START, table, END + tail


if __name__ == "__main__":
    head, _, tail = split_readme(README.read_text())
    README.write_text(head + settings_table() + tail)
