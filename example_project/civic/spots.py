"""Places in New Haven (the Elm City) a resident can pick when reporting an issue.

A real site would show a map; a short list keeps the demo free of JavaScript and map tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Spot:
    key: str
    label: StrOrPromise
    address: str
    lat: float
    lng: float


SPOTS: tuple[Spot, ...] = (
    Spot("green", _("New Haven Green"), "250 Temple St, New Haven, CT 06510", 41.3083, -72.9261),
    Spot(
        "chapel",
        _("Chapel St at York St"),
        "1100 Chapel St, New Haven, CT 06510",
        41.3079,
        -72.9320,
    ),
    Spot("wooster", _("Wooster Square"), "600 Chapel St, New Haven, CT 06511", 41.3040, -72.9130),
    Spot(
        "east-rock",
        _("East Rock Park entrance"),
        "41 Cold Spring St, New Haven, CT 06511",
        41.3300,
        -72.9050,
    ),
    Spot(
        "westville",
        _("Westville village"),
        "1500 Whalley Ave, New Haven, CT 06515",
        41.3320,
        -72.9690,
    ),
)
BY_KEY = {spot.key: spot for spot in SPOTS}
CENTER = SPOTS[0]
