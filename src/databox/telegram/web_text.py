"""Text and links of the web preview's text divs (``telegram_convert`` semantics).

Line breaks are ``<br/>`` (``breaks_to_newlines`` turns them into newlines once per
page); emoji sit in ``<i class="emoji"><b>😀</b></i>`` (custom ones inside
``<tg-emoji>``), so a node's text keeps their characters. Links are typed by
how t.me renders each entity (catalog §3):

* URL typed as text: ``<a href=URL target=_blank rel=noopener>URL</a>`` → ``url``
* text link: the same plus ``onclick="return confirm('Open this link?…')"`` → ``text_url``
* mention: ``<a href="https://t.me/name" target=_blank>@name</a>`` → ``mention``
* hashtag: ``<a href="?q=%23tag">#tag</a>`` → ``hashtag`` (url None)
* e-mail: ``<a href="mailto:x@y">x@y</a>`` → ``email``

Cashtags (``?q=%24…``), bot commands and phone numbers are not links in the shared
model (Telethon's ``links_of`` skips them too).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from databox.telegram.web_layout import SERVICE_TEXTS

#: lexbor's id of the <a> tag: comparing ids spares decoding every element's name.
_A_TAG = LexborHTMLParser("<a></a>").css_first("a").tag_id


def bg_url(style: str | None) -> str | None:
    """The URL of ``background-image:url(…)`` in a style attribute, quoted with
    ``'``, ``"`` or not at all (``style="width:800px;background-image:url('…')"``)."""
    if not style:
        return None
    at = style.find("background-image")
    if at < 0:
        at = style.lower().find("background-image")
        if at < 0:
            return None
    at = style.find("url(", at)
    if at < 0:
        return None
    rest = style[at + 4 :].lstrip()
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        url = rest[1:end] if end > 0 else ""
    else:
        end = rest.find(")")
        url = rest[:end].strip() if end >= 0 else ""
    return url or None


def clean(text: str | None) -> str | None:
    """NBSP as a space, surrounding whitespace dropped; empty → None."""
    if text is None:
        return None
    text = text.replace("\u00a0", " ").strip()
    return text or None


def plain(node: LexborNode | None) -> str | None:
    """The cleaned text of a node without line structure (names, labels, numbers)."""
    return None if node is None else clean(node.text(deep=True))


def breaks_to_newlines(root: LexborNode) -> None:
    """Turn every ``<br>`` under ``root`` into a newline text node, once per page, so
    ``node.text()`` reads line breaks (real text divs hold no raw newlines)."""
    for br in root.css("br"):
        br.replace_with("\n")


def rich(node: LexborNode) -> str:
    """The text of ``node`` with its line breaks (after ``breaks_to_newlines``)."""
    return node.text(deep=True)


def text_and_links(node: LexborNode) -> tuple[str | None, list[dict[str, Any]]]:
    """``(text, links)`` of a text div: links in text order, labels as shown."""
    links: list[dict[str, Any]] = []
    # A walk, not node.css("a"): a text div holds a handful of elements, and each css()
    # call parses its selector anew (twice the cost of walking them here).
    for a in node.traverse():
        if a.tag_id != _A_TAG:
            continue
        attrs = a.attributes  # a dict: classify_link tests keys, missing as a rule
        label = a.text(deep=True).replace("\u00a0", " ")
        link = classify_link(attrs.get("href"), label, attrs)
        if link is not None:
            links.append(link)
    return clean(node.text(deep=True)), links


def _same_target(label: str, href: str) -> bool:
    def bare(s: str) -> str:
        return s.split("://", 1)[-1].rstrip("/").lower()

    return bare(label) == bare(href)


def classify_link(href: str | None, label: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """One ``<a>`` of a text div as a ``links`` entry; None for anchors that are not
    links of the shared model (cashtags, commands, phone numbers, empty labels)."""
    if not href or not label.strip():
        return None
    if href.startswith("?q="):
        return {"type": "hashtag", "label": label, "url": None} if label[0] == "#" else None
    if "onclick" in attrs:
        # Since 2024 t.me escapes "&" twice inside text links' hrefs.
        url = href.replace("&amp;", "&")
        return {"type": "text_url", "label": label, "url": url}
    lower = href.lower()
    if lower.startswith("mailto:"):
        if href[7:].lower() == label.lower():
            return {"type": "email", "label": label, "url": f"mailto:{label}"}
        return {"type": "text_url", "label": label, "url": href}
    if lower.startswith("tel:"):
        return None
    if label[0] == "@":
        name = label[1:]
        if lower.rstrip("/") in (f"https://t.me/{name.lower()}", f"http://t.me/{name.lower()}"):
            return {"type": "mention", "label": label, "url": f"https://t.me/{name}"}
    if label == href or _same_target(label, href) or (" " not in label and "." in label):
        return {"type": "url", "label": label, "url": href}
    return {"type": "text_url", "label": label, "url": href}


_MULTIPLIERS = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "B": 1_000_000_000}


def parse_views(text: str | None) -> int | None:
    """``"401"`` → 401, ``"1.2K"`` → 1200, ``"1.1M"`` → 1100000; None when empty/unparsable.

    Decimal, not float: ``int(4.35 * 1000)`` is 4349, and snscrape's
    ``int(float("1.2")) * 1000`` gives 1000.
    """
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    s = text.strip().replace(",", "").replace("\u00a0", "").replace(" ", "").upper()
    if not s:
        return None
    multiplier = _MULTIPLIERS.get(s[-1])
    if multiplier is not None:
        s = s[:-1]
        whole, _, frac = s.partition(".")
        if (
            whole.isascii()
            and whole.isdigit()
            and (not frac or (frac.isascii() and frac.isdigit()))
        ):
            scale = 10 ** len(frac)
            if multiplier % scale == 0:  # exact in integers: "1.59M" → 1590000
                return int(whole) * multiplier + (int(frac) if frac else 0) * (multiplier // scale)
    try:
        value = Decimal(s) * (multiplier or 1)
    except InvalidOperation:
        return None
    return int(value) if value >= 0 else None


def service_action(text: str | None) -> tuple[str, str | None]:
    """``(action, new_title)`` of a service message from its visible wording."""
    for pattern, action in SERVICE_TEXTS:
        match = pattern.search(text or "")
        if match is not None:
            return action, (match["title"] or None) if action == "title_changed" else None
    return "other", None
