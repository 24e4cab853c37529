"""How the CLI shows an error that escaped a command: one line per problem, an exit
code that says whose move it is (1: the work failed; 2: fix the usage or configuration),
and a traceback only with ``--debug``."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from databox.errors import ConfigError, DataboxError

#: OSErrors that mean a path or port the user gave cannot be used (exit 2, not 1).
_USAGE_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM,
                 errno.EEXIST, errno.EROFS, errno.EADDRINUSE}  # fmt: skip


def describe_error(exc: BaseException) -> tuple[int, list[str]]:
    """(exit code, one message per problem) for an exception that escaped a command."""
    if isinstance(exc, ConfigError):
        return 2, list(exc.problems) or [type(exc).__name__]
    if isinstance(exc, DataboxError):
        return 1, [str(exc)]
    if isinstance(exc, OSError):
        where = " → ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        message = f"{exc.strerror or exc}: {where}" if where else str(exc.strerror or exc)
        if exc.errno == errno.EADDRINUSE:
            message += " (another program is listening on that port: choose another with --port)"
        return (2 if exc.errno in _USAGE_ERRNOS else 1), [message]
    driver = type(exc).__module__.split(".")[0].lstrip("_")
    if driver in ("psycopg", "duckdb"):
        first = (str(exc).strip().splitlines() or [""])[0]
        return 1, [
            f"{driver} {type(exc).__name__}: {first} (run again with --debug for the traceback)"
        ]
    return 1, [
        f"unexpected {type(exc).__name__}: {exc}; this is a bug: run again with --debug "
        "for the traceback and report it"
    ]


@contextmanager
def port_in_use_is_usage(port: int) -> Iterator[None]:
    """A port another program holds is the user's choice to change (exit 2), named."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise ConfigError(
            f"--port {port}: 127.0.0.1:{port} is already in use by another program; "
            "choose another port with --port"
        ) from exc
