"""docs/models.md stays the model reference: every stored field of every model of the app has a
row in its model's section, no row names a field that is gone, and the app label is stated."""

import re
from pathlib import Path

import pytest
from django.apps import apps

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
MODELS = list(apps.get_app_config("seeclickfix").get_models())


def documented_fields() -> dict[str, set[str]]:
    parts = re.split(r"^## `(\w+)`$", DOC.read_text(), flags=re.MULTILINE)
    return {
        parts[i]: set(re.findall(r"^\| `(\w+)` \|", parts[i + 1], flags=re.MULTILINE))
        for i in range(1, len(parts), 2)
    }


def test_the_app_label_is_stated() -> None:
    assert apps.get_app_config("seeclickfix").label == "seeclickfix"
    assert "The app's label is **`seeclickfix`**" in DOC.read_text()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_row(model) -> None:
    sections = documented_fields()
    assert model.__name__ in sections, f"docs/models.md has no section for {model.__name__}"
    stored = {f.name for f in model._meta.get_fields() if f.concrete and not f.primary_key}
    assert sorted(stored - sections[model.__name__]) == [], "fields without a row"
    assert sorted(sections[model.__name__] - stored) == [], "rows for fields that are gone"
