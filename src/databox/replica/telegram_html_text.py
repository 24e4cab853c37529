"""Text as t.me/s prints it: entities escaped the preview's way, emoji wrapped in
Telegram's image tag, line breaks as ``<br/>``, and the message entities (URLs,
text links, @mentions, #hashtags, e-mails) as the real page's links."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from databox.replica.telegram_model import TextLink

# Real pages escape these in text (S1-S4): ! → &#33;, $ → &#036;, ' → &#39;, NBSP → &nbsp;.
_TEXT_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#39;",
        "!": "&#33;",
        "$": "&#036;",
        "\xa0": "&nbsp;",
    }
)
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def esc(text: str) -> str:
    """Escape a text node."""
    return text.translate(_TEXT_ESCAPES)


def attr(value: str) -> str:
    """Escape an attribute value (double-quoted)."""
    return value.translate(_ATTR_ESCAPES)


_EMOJI_CHAR = "[\U0001f000-\U0001faff\u2600-\u27bf\u2300-\u23ff\u2b00-\u2bff\u3030\u303d]\ufe0f?"
_EMOJI = rf"[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_EMOJI_CHAR}(?:\u200d{_EMOJI_CHAR})*"
_TOKEN_RE = re.compile(
    r"(?P<url>https?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]»])"
    r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?P<mention>(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{4,31}\b)"
    rf"|(?P<emoji>{_EMOJI})"
    r"|(?P<hashtag>(?<![\w#&/])#\w*[^\W\d]\w*)"
    r"|(?P<nl>\n)"
)
_PLAIN_RE = re.compile(rf"(?P<emoji>{_EMOJI})|(?P<nl>\n)")

#: The confirm() a text link carries; the ``\n`` are a literal backslash and n.
CONFIRM = "return confirm('Open this link?\\n\\n'+this.href);"


def emoji(char: str) -> str:
    """Telegram's emoji image: file name = UTF-8 hex of the emoji without U+FE0F."""
    code = char.replace("\ufe0f", "").encode().hex().upper()
    return (
        f'<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/{code}.png\')">'
        f"<b>{char}</b></i>"
    )


def rich(text: str, *, breaks: bool = True) -> str:
    """Escaped text with emoji images and (``breaks``) ``<br/>`` for line breaks."""
    out, pos = [], 0
    for match in _PLAIN_RE.finditer(text):
        out.append(esc(text[pos : match.start()]))
        if match["emoji"]:
            out.append(emoji(match["emoji"]))
        else:
            out.append("<br/>" if breaks else " ")
        pos = match.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def _entities(text: str) -> str:
    out, pos = [], 0
    for match in _TOKEN_RE.finditer(text):
        out.append(esc(text[pos : match.start()]))
        value = match.group()
        if match["url"]:  # a URL typed as text: no onclick
            out.append(f'<a href="{attr(value)}" target="_blank" rel="noopener">{esc(value)}</a>')
        elif match["email"]:
            # Inferred from Telegram's CSS/JS; no saved page seen: a plain mailto link.
            out.append(f'<a href="mailto:{attr(value)}">{esc(value)}</a>')
        elif match["mention"]:
            out.append(f'<a href="https://t.me/{value[1:]}" target="_blank">{esc(value)}</a>')
        elif match["hashtag"]:
            out.append(f'<a href="?q={quote(value, safe="")}">{esc(value)}</a>')
        elif match["emoji"]:
            out.append(emoji(value))
        else:
            out.append("<br/>")
        pos = match.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def render_text(text: str, text_links: Sequence[TextLink] = ()) -> str:
    """A post's text as the inside of its ``js-message_text`` div."""
    out, pos = [], 0
    for link in text_links:
        start = text.find(link.label, pos)
        if start < 0:
            continue
        out.append(_entities(text[pos:start]))
        out.append(
            f'<a href="{attr(link.url)}" target="_blank" rel="noopener" onclick="{CONFIRM}">'
            f"{rich(link.label)}</a>"
        )
        pos = start + len(link.label)
    out.append(_entities(text[pos:]))
    return "".join(out)
