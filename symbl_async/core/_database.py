"""PostgreSQL connections, the one policy: what an error means, how long to wait, what to show.

Every PostgreSQL connection the package holds (a shared batch ledger's pool and its LISTEN
connection, a webhook relay's pool and its LISTEN connection) classifies errors and backs
off the same way: a lost connection (a server restart, a failover, an administrator ending
the session, asyncpg's own confused protocol state after a cut) is retried; anything else
is the database's answer. No I/O here; asyncpg is imported only inside the functions that
need its exception types (``import symbl_async`` must work without it).
"""

from __future__ import annotations

import asyncio
import random
import re
from urllib.parse import unquote

__all__ = ["is_connection_loss", "is_database_error", "reconnect_delay", "scrub"]


def is_database_error(exc: BaseException) -> bool:
    """True for asyncpg's errors (the server's answers and the client's own)."""
    import asyncpg

    return isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError,
                            asyncpg.exceptions.InternalClientError))


def is_connection_loss(exc: BaseException) -> bool:
    """True when ``exc`` means the connection (or the server) went away, or the transaction
    was rolled back for a conflict: the operation may be tried again."""
    import asyncpg

    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(
        exc,
        (
            asyncpg.PostgresConnectionError,  # class 08, incl. ConnectionDoesNotExistError
            asyncpg.exceptions.OperatorInterventionError,  # 57: shut-down, terminated, starting
            asyncpg.exceptions.TransactionRollbackError,  # 40: serialization, deadlock
        ),
    ):
        return True
    # asyncpg's own "connection is closed" / "connection was closed in the middle of
    # operation" come as InterfaceError; a connection ended by the server in the middle of
    # an operation may leave its protocol confused ("another operation is in progress", an
    # InternalClientError). Either way the connection is gone.
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def reconnect_delay(tries: int, cap: float = 2.0) -> float:
    """Seconds to wait before try number ``tries + 1`` after a lost connection: growing
    from 40 ms to ``cap``, jittered by half either way."""
    return min(cap, 0.02 * 2.0 ** min(tries, 10)) * random.uniform(0.5, 1.5)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the URL's password, wherever it appears, and
    whatever the password holds: it runs from the first ``:`` after the user to the last
    ``@`` (as :func:`~symbl_async.core._checks.redact_url` reads it)."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    if password:
        secrets = {password, unquote(password)}
        # A password cut by an unencoded '/', '?' or '#' reaches the driver in pieces.
        secrets.update(p for p in re.split(r"[/?#]", password) if len(p) >= 3)
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text
