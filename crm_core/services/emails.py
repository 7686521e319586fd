"""E-mail address normalisation."""

from __future__ import annotations

from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email


def normalize_email(raw: str | None) -> str | None:
    """Lower-case ``raw`` (``"Ann <Ann@X.org>"`` or ``Ann@X.org``); None when it is no address.

    No DNS lookups: intake must not wait on the network.
    """
    if not raw or len(raw) > 998:
        return None
    _, addr = parseaddr(raw)
    addr = addr.strip()
    if not addr or "@" not in addr:
        return None
    try:
        result = validate_email(addr, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return result.normalized.lower()
