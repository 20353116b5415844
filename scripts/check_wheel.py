"""Fails unless the wheel carries every file of the package tracked by git (templates, static
files, migrations, locale, py.typed), not just the modules."""

import subprocess
import sys
import zipfile
from pathlib import Path


def main(path: str) -> int:
    if Path(path).is_dir():
        path = str(next(Path(path).glob("django_seeclickfix-*.whl")))
    names = set(zipfile.ZipFile(path).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "django_seeclickfix"], capture_output=True, text=True, check=True
    ).stdout.split()
    missing = sorted(set(tracked) - names)
    if "django_seeclickfix/py.typed" not in names:
        missing.append("django_seeclickfix/py.typed")
    if missing:
        print(f"{path} lacks: {', '.join(missing)}")
        return 1
    kinds = {
        "migrations": sum("/migrations/" in n for n in names),
        "templates": sum("/templates/" in n for n in names),
        "static": sum("/static/" in n for n in names),
        "catalogues": sorted(n.split("/")[2] for n in names if n.endswith("/django.mo")),
    }
    print(f"{path}: all {len(tracked)} tracked package files present, py.typed included; {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
