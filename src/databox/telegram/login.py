"""``databox telegram login``: create the TELEGRAM_SESSION string once, by hand.

Scraper runs never log in (they would hang waiting for a login code), so a person
runs this once: it asks for the phone number, the code Telegram sends and the 2FA
password if one is set, then prints a Telethon ``StringSession``. That string is a
credential equal to the login itself.

Only the ``TELEGRAM_SESSION=...`` line goes to stdout; prompts and instructions go to
stderr, so ``databox telegram login > session.env`` captures just the line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from databox.errors import ConfigError, DataboxError

BOT_REFUSAL = (
    "that looks like a bot token; bots cannot read channel history (messages.getHistory is "
    "user-only, Telegram answers BOT_METHOD_INVALID). Log in with the phone number of a user "
    "account instead"
)


def _prompt(text: str) -> str:
    """``input()`` that prompts on stderr, keeping stdout for the session line."""
    print(text, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError("no input (stdin closed)")
    return line.rstrip("\n")


def _refuse_bot_token(value: str) -> str:
    # A bot token looks like "123456789:AAH...". Telethon's start() silently logs in as a
    # bot when the "phone" contains a colon, and a bot cannot read channel history.
    if ":" in value:
        raise ConfigError(BOT_REFUSAL)
    return value.strip()


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def create_string_session(
    api_id: int,
    api_hash: str,
    *,
    phone: str | None = None,
    input_fn: Callable[[str], str] = input,
    password_fn: Callable[[str], str] = getpass.getpass,
    client_factory: Callable[[], Any] | None = None,
) -> str:
    """Log in interactively once and return the session as a string."""
    if phone is not None:
        phone = _refuse_bot_token(phone)

    def default_client() -> Any:
        from telethon import TelegramClient
        from telethon.sessions import StringSession

        # An empty StringSession: nothing is written to disk, the result is the string.
        return TelegramClient(StringSession(), api_id, api_hash)

    def ask_phone() -> str:
        return _refuse_bot_token(
            input_fn("Phone number of the Telegram account (e.g. +251911000000): ")
        )

    client = (client_factory or default_client)()
    try:
        await _maybe_await(
            client.start(
                # A given phone goes in as a string; a callable would be asked again
                # forever by Telethon if the number does not parse.
                phone=phone or ask_phone,
                code_callback=lambda: input_fn("Login code Telegram sent you: "),
                password=lambda: password_fn("Two-step verification password: "),
            )
        )
        me = await client.get_me()
        if me is None:
            raise ConfigError("login did not complete; no user is signed in")
        if getattr(me, "bot", False):
            raise ConfigError(BOT_REFUSAL)
        session = client.session.save()
        if not session:
            raise ConfigError("Telegram returned no authorization; the session string is empty")
        return session
    finally:
        await _maybe_await(client.disconnect())


def _read_api_credentials(
    env: Mapping[str, str], input_fn: Callable[[str], str], password_fn: Callable[[str], str]
) -> tuple[int, str]:
    api_id_raw = (env.get("TELEGRAM_API_ID") or "").strip() or input_fn(
        "TELEGRAM_API_ID (from https://my.telegram.org > API development tools): "
    ).strip()
    try:
        api_id = int(api_id_raw)
    except ValueError:
        raise ConfigError(
            f"TELEGRAM_API_ID must be the numeric id from my.telegram.org, got {api_id_raw!r}"
        ) from None
    # The hash is secret: prompt without echo.
    api_hash = (env.get("TELEGRAM_API_HASH") or "").strip() or password_fn(
        "TELEGRAM_API_HASH: "
    ).strip()
    if not api_hash:
        raise ConfigError("TELEGRAM_API_HASH is empty; copy it from https://my.telegram.org")
    return api_id, api_hash


def login_main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    input_fn: Callable[[str], str] = _prompt,
    password_fn: Callable[[str], str] = getpass.getpass,
    client_factory: Callable[[], Any] | None = None,
) -> int:
    """Entry point of ``databox telegram login``; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="databox telegram login",
        description="Log in to Telegram once with a user account and print TELEGRAM_SESSION.",
    )
    parser.add_argument("--phone", help="phone number in international format (asked if omitted)")
    args = parser.parse_args(argv)

    if env is None:
        from databox.config import load_dotenv_file

        load_dotenv_file()  # API id and hash may already be in .env
        env = os.environ

    def err(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        api_id, api_hash = _read_api_credentials(env, input_fn, password_fn)
        session = asyncio.run(
            create_string_session(
                api_id,
                api_hash,
                phone=args.phone,
                input_fn=input_fn,
                password_fn=password_fn,
                client_factory=client_factory,
            )
        )
    except (KeyboardInterrupt, EOFError):
        err("\nlogin cancelled")
        return 130
    except DataboxError as exc:
        err(f"error: {exc}")
        return 2
    except Exception as exc:  # Telethon RPC errors: bad phone, bad code, API id invalid, ...
        err(f"error: Telegram login failed: {type(exc).__name__}: {exc}")
        return 1

    err(
        "\nLogged in. Put the line below in .env (which must be git-ignored) or in your secret "
        "store,\ntogether with TELEGRAM_API_ID and TELEGRAM_API_HASH.\n"
        "This string is a credential equal to your login: anyone who has it can read and send\n"
        "messages as you. Never commit it or paste it in chats or logs. To revoke it, end the\n"
        "session in Telegram > Settings > Devices.\n"
    )
    print(f"TELEGRAM_SESSION={session}")
    return 0
