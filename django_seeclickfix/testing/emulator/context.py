"""What a handler gets: the request, the emulator's parts, and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http import Request

if TYPE_CHECKING:
    from .config import Behaviour
    from .models import Token, User
    from .oauth import OAuthServer
    from .requestlog import RequestLog
    from .shapes import Shapes
    from .state import State


@dataclass
class Context:
    request: Request
    state: State
    behaviour: Behaviour
    oauth: OAuthServer
    log: RequestLog
    shapes: Shapes
    user: User | None = None
    token: Token | None = None
    auth_kind: str = "none"  # "bearer", "basic", "none"
    # set by handlers so the request log can say more without ever holding a secret
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.shapes.origin
