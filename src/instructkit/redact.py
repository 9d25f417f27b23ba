"""Secrets out of everything we write or show: manifests, rejected items, logs, errors, the terminal.

What counts as a secret:

* a value under a secret-like name (``api_key``, ``password``, ``authorization``, ``hf_token``...),
  in a mapping or after such a flag in an argv list (``--api-key X``, ``--api-key=X``);
* a key-shaped string (``sk-...``, ``hf_...``), any ``Bearer``/``Basic`` credential;
* the user:password part of any URL (``http://user:pass@host/v1`` -> ``http://<redacted>@host/v1``);
* anything given to :func:`register_secret` (the API key in use; a URL's credentials, which are
  also registered in their base64 form, the one an ``Authorization: Basic`` header carries).

>>> redact("openai:m@http://bob:hunter2@127.0.0.1:8080/v1")
'openai:m@http://<redacted>@127.0.0.1:8080/v1'
>>> redact({"argv": ["--api-key", "abc123"], "note": "Authorization: Basic Ym9iOmh1bnRlcjI="})
{'argv': ['--api-key', '<redacted>'], 'note': 'Authorization: <redacted>'}
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import unquote

# "token" only as a name's last word (hf_token, --token), so counts like prompt_tokens/max_tokens stay
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|credential|(?:^|[_\-])token$)", re.I)
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,})")
_AUTH_VALUE = re.compile(r"\b(Bearer|Basic)(\s+|%20)[A-Za-z0-9+/=._~\-]{3,}", re.I)
# scheme://userinfo@ -- userinfo may hold anything but '/', '@' and whitespace
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@\"'<>]+@")

REDACTED = "<redacted>"
_KNOWN_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret (e.g. an API key in use) so :func:`redact` removes it wherever it appears."""
    if value and len(value) >= 6:
        _KNOWN_SECRETS.add(value)


def register_url_secrets(url: str | None) -> None:
    """Register the credentials in ``url``'s user:password part, raw, decoded and as the base64
    an ``Authorization: Basic`` header would carry (a server may echo it back)."""
    m = re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://([^/\s@]+)@", url or "")
    if not m:
        return
    userinfo = m.group(1)
    user, _, password = unquote(userinfo).partition(":")
    for value in (userinfo, unquote(userinfo), password, userinfo.partition(":")[2],
                  base64.b64encode(f"{user}:{password}".encode()).decode()):
        register_secret(value)


def _redact_str(text: str) -> str:
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):  # longest first: no partial leftovers
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _AUTH_VALUE.sub(REDACTED, text)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(obj: Any) -> Any:
    """Copy of ``obj`` with secrets removed (see the module's docstring for what counts)."""
    if isinstance(obj, dict):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) and v else redact(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out: list[Any] = []
        hide_next = False
        for v in obj:
            if hide_next and isinstance(v, str) and not v.startswith("-"):
                out.append(REDACTED)
                hide_next = False
                continue
            hide_next = False
            if isinstance(v, str) and v.startswith("-") and _SECRET_KEY.search(v.partition("=")[0]):
                flag, eq, _ = v.partition("=")
                if eq:
                    out.append(flag + "=" + REDACTED)
                    continue
                hide_next = True
            out.append(redact(v))
        return out
    if isinstance(obj, str):
        return _redact_str(obj)
    return obj
