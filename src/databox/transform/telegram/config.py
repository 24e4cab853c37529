"""SQLMesh configuration of the Telegram project (``transform/telegram``).

The same gateway, dialect and model defaults as the eBird project
(``databox.transform.sqlmesh_config``), with three differences:

* State in schema ``sqlmesh_telegram``, not ``sqlmesh``: SQLMesh treats every model
  missing from a project as removed, so two projects sharing one state schema would
  drop each other's tables on every plan.
* Its own cache: ``data/sqlmesh/cache/telegram/<warehouse digest>``, or
  ``<cache_dir>/telegram`` when the runner is given a ``cache_dir`` (so a cache
  directory shared by tests or by both runners still keeps the projects apart).
* Models start 2013-08-01 (Telegram's launch): channels carry years of history.

Variables (``context.var`` in the terms model, hence part of its fingerprint: a
change rebuilds ``telegram_marts.mart_product_terms_weekly``):

* ``product_lexicon_sha256``: sha256 of the product lexicon file,
  ``TELEGRAM_PRODUCT_LEXICON`` (a path) or the packaged ``lexicon/product_terms.txt``.
* ``product_tokenizer_sha256``: sha256 of the stopword files and the tokeniser's
  source (``terms.py``), so a changed stopword list or tokeniser rebuilds it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlmesh.core.config import Config

from databox.config import DEFAULT_DATABASE_URL
from databox.transform import sqlmesh_config
from databox.transform.telegram import terms

PROJECT = "telegram"
STATE_SCHEMA = "sqlmesh_telegram"
DEFAULT_START = "2013-08-01"


def variables() -> dict[str, str]:
    return {
        "product_lexicon_sha256": terms.file_sha256(terms.lexicon_path()),
        "product_tokenizer_sha256": terms.tokenizer_sha256(),
    }


def build_config(
    database_url: str,
    *,
    cache_dir: Path | str | None = None,
    start: str = DEFAULT_START,
) -> Config:
    """The Telegram project's ``Config`` for the warehouse at ``database_url``."""
    cache = (
        Path(cache_dir) / PROJECT
        if cache_dir
        else sqlmesh_config.default_cache_dir(database_url, PROJECT)
    )
    return sqlmesh_config.build_config(
        database_url,
        cache_dir=cache,
        start=start,
        state_schema=STATE_SCHEMA,
        variables=variables(),
    )


def __getattr__(name: str) -> Any:
    # PEP 562: the CLI's ``config`` (``sqlmesh -p src/databox/transform/telegram ...``)
    # is built on first access only.
    if name == "config":
        return build_config(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    raise AttributeError(name)
