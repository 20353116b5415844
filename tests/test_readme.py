"""The README stays true: its settings reference is the one the code defines."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from settings_table import README, settings_table, split_readme


def test_readme_settings_reference_matches_the_code():
    _, table, _ = split_readme(README.read_text())
    assert table == settings_table(), "run: python scripts/settings_table.py"


def test_readme_quick_start_is_exactly_the_two_commands():
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    root = README.parent
    assert all((root / c).stat().st_mode & 0o111 for c in commands)
