"""Keep OAuth secrets out of the development server's access log.

``runserver`` logs every request line, query string included. The callback's ``code``, the
``state`` and (in a misrouted implicit flow) an ``access_token`` would land in the terminal and in
whatever collects it, so they are masked before the line is written.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(
    r"(?P<name>\b(?:code|state|access_token|refresh_token|token|code_verifier|password)=)[^&\s\"]+"
)


def redact(text: str) -> str:
    return SECRET_PARAMS.sub(r"\g<name>[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        record.msg = redact(str(record.msg))
        return True
