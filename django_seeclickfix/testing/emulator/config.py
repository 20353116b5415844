"""Behaviour switches of the emulator: the places where SeeClickFix is unknown or inconsistent.

Each switch picks one of the variants the reference says a client must handle, so a test can put
the client in front of each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

InvalidTokenBehaviour = Literal["401", "403", "anonymous"]
INVALID_TOKEN_BEHAVIOURS: tuple[str, ...] = ("401", "403", "anonymous")
VALIDATION_ERROR_SHAPES: tuple[str, ...] = ("errors_list", "errors", "flat")
# What a listing answers for a page past ``page_cap``: a 404, an empty page, or page_cap again.
PAGE_CAP_ANSWERS: tuple[str, ...] = ("404", "empty", "repeat")


@dataclass
class Quirks:
    # "null" (a string) instead of JSON null in pagination, as the documentation's samples have.
    string_null_pagination: bool = False
    # rating as a string ("5"), as the documentation says; real responses carry an integer.
    rating_as_string: bool = False
    # timestamps as 2011-04-22T13:33:48Z (the documented format) instead of Eastern offsets.
    utc_timestamps: bool = False
    # the documentation's doubled /api/api/v2 in next_page_url / previous_page_url.
    doubled_api_prefix: bool = False
    # The documented samples' keys instead of the real service's: list "errors": null,
    # "comments_url", a shortened_url string, no request_type / transitions /
    # private_visibility / reopened_at, no reporter.html_url, comments with issue{rating,status}
    # and comment_count / vote_count / assignee / integrations on a plain single issue.
    sample_shapes: bool = False


@dataclass
class Behaviour:
    invalid_token_behaviour: InvalidTokenBehaviour = "401"
    moderate_comments: bool = False
    moderate_issues: bool = False
    pkce: bool = True  # False: code_challenge is ignored, as a server without PKCE would
    require_user_agent: bool = True
    validation_error_shape: str = "errors_list"
    count_not_modified: bool = True  # whether a 304 uses up rate limit
    # Live clients report at most 25 pages of a listing whatever ``pages`` says; what lies past
    # it is unknown, so the default is the answer a client notices least (page 25 again).
    # ``page_cap=0`` serves every page.
    page_cap: int = 25
    page_cap_answer: str = "repeat"
    # The real service serves anonymous listings (and ``details=true`` for everyone) at most
    # 20 per page, whatever ``per_page`` asks.
    anonymous_per_page: int = 20
    # Doorkeeper's server options (SeeClickFix's choice is unknown). ``reuse_access_token``:
    # a new authorisation of the same app and user hands back the still-valid token instead of
    # a new one. ``default_scopes=False``: an authorize request without ``scope`` stops on the
    # error page ("Missing required parameter: scope."). ``error_page_status``: Doorkeeper
    # answers its error pages (unknown client, bad redirect URI...) with 200; 400 by default.
    reuse_access_token: bool = False
    default_scopes: bool = True
    error_page_status: int = 400
    quirks: Quirks = field(default_factory=Quirks)

    def reset(self) -> None:
        """Back to the defaults, in place (other parts hold a reference to this object)."""
        fresh = Behaviour()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def update(self, **changes: Any) -> None:
        quirk_changes = changes.pop("quirks", None) or {}
        names = {f.name for f in fields(self)} - {"quirks"}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown emulator setting {name!r}; known: {sorted(names)}")
            if name in ("invalid_token_behaviour", "page_cap_answer"):
                value = str(value)
            elif name in ("page_cap", "anonymous_per_page", "error_page_status"):
                value = int(value)
            setattr(self, name, value)
        quirk_names = {f.name for f in fields(Quirks)}
        for name, value in quirk_changes.items():
            if name not in quirk_names:
                raise ValueError(f"unknown quirk {name!r}; known: {sorted(quirk_names)}")
            setattr(self.quirks, name, bool(value))
        self.validate()

    def validate(self) -> None:
        if self.invalid_token_behaviour not in INVALID_TOKEN_BEHAVIOURS:
            raise ValueError(
                f"invalid_token_behaviour must be one of {INVALID_TOKEN_BEHAVIOURS}, "
                f"got {self.invalid_token_behaviour!r}"
            )
        if self.validation_error_shape not in VALIDATION_ERROR_SHAPES:
            raise ValueError(
                f"validation_error_shape must be one of {VALIDATION_ERROR_SHAPES}, "
                f"got {self.validation_error_shape!r}"
            )

        if self.page_cap_answer not in PAGE_CAP_ANSWERS:
            raise ValueError(
                f"page_cap_answer must be one of {PAGE_CAP_ANSWERS}, got {self.page_cap_answer!r}"
            )
        if self.error_page_status not in (200, 400):
            raise ValueError(f"error_page_status must be 200 or 400, got {self.error_page_status}")
        if self.page_cap < 0 or self.anonymous_per_page < 1:
            raise ValueError("page_cap must be 0 (off) or more, anonymous_per_page 1 or more")

    def describe(self) -> dict[str, Any]:
        return asdict(self)
