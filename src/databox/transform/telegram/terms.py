"""Product terms in message texts: a tokeniser for Latin and Ethiopic script, the
stopword lists and the product lexicon, and the weekly counts behind
``telegram_marts.mart_product_terms_weekly``.

Counting happens here, in Python, not in SQL: DuckDB's RE2 and PostgreSQL's regular
expressions disagree on Unicode classes and on what a "word" is, and the mart must
be identical on both engines. The model fetches the texts and calls
``weekly_term_counts``; nothing here imports SQLMesh.

The lexicon (``TELEGRAM_PRODUCT_LEXICON`` or ``lexicon/product_terms.txt``): one entry
per line, ``#`` starts a comment; ``term | alias | alias`` counts every alias under
the first spelling; an entry may have several words ("blood pressure monitor"), which
then match as consecutive tokens once stopwords are removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

LEXICON_ENV = "TELEGRAM_PRODUCT_LEXICON"
LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
DEFAULT_LEXICON = LEXICON_DIR / "product_terms.txt"
STOPWORD_FILES = (LEXICON_DIR / "stopwords_en.txt", LEXICON_DIR / "stopwords_am.txt")

# Ethiopic syllables and their combining marks (U+1200-U+135F, leaving out the
# punctuation ፠ ፡ ። ፣ ፤ ፥ ፦ ፧ ፨ at U+1360-U+1368), the Ethiopic digits and numbers
# (U+1369-U+137C), the Supplement's syllables (U+1380-U+138F; its tonal marks
# U+1390-U+1399 are separators) and the Extended, Extended-A and Extended-B blocks.
_ETHIOPIC = "\u1200-\u135f\u1369-\u137c\u1380-\u138f\u2d80-\u2ddf\uab00-\uab2f\U0001e7e0-\U0001e7ff"
# Latin letters (ASCII, Latin-1, Extended-A/B) and ASCII digits, after lower-casing.
_LATIN = "0-9a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f"
# A token is a run of one script: "ቦሌ,አዲስ" and "vitaminቫይታሚን" are two tokens each.
_TOKEN = re.compile(f"[{_LATIN}]+|[{_ETHIOPIC}]+")


def tokenize(text: str | None, stopwords: Iterable[str] = ()) -> list[str]:
    """The tokens of ``text``: NFC-normalised, Latin lower-cased, split on anything
    that is neither a Latin letter/digit nor an Ethiopic character (spaces, Latin and
    Ethiopic punctuation, emoji, other scripts), ``stopwords`` left out."""
    if not text:
        return []
    drop = set(stopwords)
    normal = unicodedata.normalize("NFC", text).lower()
    return [t for t in _TOKEN.findall(normal) if t not in drop]


def _lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


@lru_cache(maxsize=8)
def _stopwords(files: tuple[Path, ...]) -> frozenset[str]:
    return frozenset(tok for path in files for line in _lines(path) for tok in tokenize(line))


def stopwords() -> frozenset[str]:
    """English and Amharic stopwords (``lexicon/stopwords_*.txt``), tokenised."""
    return _stopwords(STOPWORD_FILES)


def lexicon_path() -> Path:
    """``TELEGRAM_PRODUCT_LEXICON`` when set, else the packaged lexicon."""
    configured = os.environ.get(LEXICON_ENV, "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_LEXICON


def load_lexicon(path: Path | None = None) -> dict[tuple[str, ...], str]:
    """``{token sequence: reported term}`` for every spelling in the lexicon file."""
    path = path or lexicon_path()
    stop = stopwords()
    entries: dict[tuple[str, ...], str] = {}
    for line in _lines(path):
        spellings = [tuple(tokenize(s, stop)) for s in line.split("|")]
        if not spellings[0]:
            raise ValueError(f"{path}: entry {line!r} has no token that is not a stopword")
        term = " ".join(spellings[0])
        for seq in spellings:
            if seq:
                entries.setdefault(seq, term)
    return entries


def find_terms(tokens: list[str], lexicon: dict[tuple[str, ...], str]) -> list[str]:
    """The lexicon terms in ``tokens``, left to right, longest entry first at each
    position; matched tokens are consumed ("blood pressure monitor" is not also
    "monitor")."""
    longest = max((len(k) for k in lexicon), default=0)
    found, i = [], 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            term = lexicon.get(tuple(tokens[i : i + size]))
            if term is not None:
                found.append(term)
                i += size
                break
        else:
            i += 1
    return found


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def weekly_term_counts(
    rows: Iterable[tuple[str, int, date, str | None]],
    lexicon: dict[tuple[str, ...], str],
) -> list[tuple[date, str, int, int, int, int]]:
    """``(week_start, term, mentions, messages, channels, rank)`` from
    ``(channel, message_id, message_date, text)`` rows. ``rank`` 1 = most mentions that
    week; ties go to more messages, then to the term in code-point order, so ranks
    are unique within a week and identical on every run."""
    stop = stopwords()
    mentions: dict[tuple[date, str], int] = defaultdict(int)
    messages: dict[tuple[date, str], set] = defaultdict(set)
    channels: dict[tuple[date, str], set] = defaultdict(set)
    for channel, message_id, day, text in rows:
        for term in find_terms(tokenize(text, stop), lexicon):
            key = (week_start(day), term)
            mentions[key] += 1
            messages[key].add((channel, message_id))
            channels[key].add(channel)
    by_week: dict[date, list] = defaultdict(list)
    for (week, term), count in mentions.items():
        by_week[week].append((term, count, len(messages[week, term]), len(channels[week, term])))
    out = []
    for week in sorted(by_week):
        ranked = sorted(by_week[week], key=lambda r: (-r[1], -r[2], r[0]))
        out.extend((week, *row, rank) for rank, row in enumerate(ranked, 1))
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tokenizer_sha256() -> str:
    """One digest of the stopword files and this module's source."""
    digest = hashlib.sha256()
    for path in (*STOPWORD_FILES, Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()
