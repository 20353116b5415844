"""The HTML of the emulator's sign-in, approval and error pages (Doorkeeper's wording)."""

from __future__ import annotations

from html import escape

STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0}
main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{padding:.5rem 1.2rem;margin:1rem .5rem 0 0;cursor:pointer}
.note{color:#667;font-size:.85rem}.error{color:#b00020}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · SeeClickFix (emulator)</title><style>{STYLE}</style></head>"
        f"<body><main><p class='note'>SeeClickFix emulator</p>{body}</main></body></html>"
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in fields.items()
    )


def sign_in(return_to: str, csrf: str, error: str | None = None) -> str:
    message = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
    return _page(
        "Sign in",
        "<h1>Sign in to SeeClickFix</h1>"
        f"{message}"
        "<form method='post' action='/users/sign_in'>"
        f"{_hidden({'return_to': return_to, 'authenticity_token': csrf})}"
        "<label for='email'>Email</label>"
        "<input id='email' type='email' name='email' autocomplete='username' required>"
        "<label for='password'>Password</label>"
        "<input id='password' type='password' name='password' "
        "autocomplete='current-password' required>"
        "<button type='submit'>Sign in</button></form>",
    )


def authorize(app_name: str, user_name: str, fields: dict[str, str]) -> str:
    approve = {**fields, "decision": "approve"}
    deny = {**fields, "decision": "deny", "_method": "delete"}
    return _page(
        "Authorization required",
        "<h1>Authorization required</h1>"
        f"<p>Authorize <strong>{escape(app_name)}</strong> to use your account?</p>"
        f"<p class='note'>Signed in as {escape(user_name)}.</p>"
        "<form method='post' action='/oauth/authorize' style='display:inline'>"
        f"{_hidden(approve)}<button type='submit' name='commit'>Authorize</button></form>"
        "<form method='post' action='/oauth/authorize' style='display:inline'>"
        f"{_hidden(deny)}<button type='submit' name='commit'>Deny</button></form>",
    )


def error(code: str, description: str) -> str:
    return _page(
        "An error has occurred",
        "<h1>An error has occurred</h1>"
        f"<p class='error' id='error' data-error='{escape(code)}'>{escape(description)}</p>",
    )


def issue_page(summary: str, status: str, address: str, description: str) -> str:
    return _page(
        summary,
        f"<h1>{escape(summary)}</h1><p><strong>{escape(status)}</strong> · {escape(address)}</p>"
        f"<p>{escape(description)}</p>",
    )
