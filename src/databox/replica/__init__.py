"""Local replicas of external services, for tests and offline demos.

Each replica is a real HTTP server on 127.0.0.1 that answers in the shapes recorded
in ``shared/docs/sources.md``, so clients are exercised over real sockets without
reaching the internet.

Import from the submodule, e.g. ``from databox.replica.telegram_web import
TelegramWebReplica``. (The package imports nothing itself, so that
``python -m databox.replica.telegram_web`` runs without runpy's double-import warning.)
"""
