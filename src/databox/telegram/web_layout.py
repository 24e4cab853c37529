"""The structure of ``https://t.me/s/<channel>`` the parser expects, in one place.

Everything the parser relies on is named here with what it means, from the catalog
of real markup (``shared/docs/sources.md`` 2b and the recorded pages it cites). When
Telegram changes the page, this module is the one to update, and the parser fails
with one message that starts with ``PREFIX`` instead of storing empty rows.

A message block is read in one pass over its elements whose class contains
``message`` (``POST_SCAN``). Every class of such an element that starts with
``tgme_widget_message`` must be listed in ``ELEMENTS``: an unknown one means the
layout changed (or a new kind of post appeared) and fails the page.
"""

from __future__ import annotations

import re

from databox.errors import DataboxError

PREFIX = "the t.me preview layout changed: "


class PreviewLayoutError(DataboxError):
    """A page or post block does not have the structure the parser expects.

    The message starts with ``PREFIX`` and names what is wrong, the post
    (``data-post``, or the block's position when it has none) and the page URL when
    known. ``post`` is that post; ``html`` is the offending block's outer HTML as
    served (the whole page for a page-level problem) so the caller can keep it in
    quarantine; ``problem`` is the message without prefix and page. When several
    blocks of a page are unreadable, the first is this error and ``others`` holds
    the rest (each with its own ``post`` and ``html``), all named in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        html: str | None = None,
        post: str | None = None,
        problem: str | None = None,
        others: list[PreviewLayoutError] | None = None,
    ):
        super().__init__(message)
        self.html = html
        self.post = post
        self.problem = problem or message
        self.others = others or []


def layout_error(
    problem: str,
    *,
    post: str | None = None,
    html: str | None = None,
    url: str | None = None,
    others: list[PreviewLayoutError] | None = None,
) -> PreviewLayoutError:
    """``PREFIX`` + ``problem`` (+ the other blocks' problems) + the page URL."""
    also = "; also " + "; ".join(o.problem for o in others) if others else ""
    where = f" (page {url})" if url else ""
    return PreviewLayoutError(
        f"{PREFIX}{problem}{also}{where}", post=post, html=html, problem=problem, others=others
    )


# -- the page --------------------------------------------------------------------------

#: The message list. Every ``/s/`` page has it, even an empty channel's.
HISTORY = "section.tgme_channel_history"
#: Its children, in order: ``div.tgme_widget_message_wrap`` rows (each holding one
#: message block or the "No posts found" row) and ``CENTERED`` rows holding a
#: paging link (2020 pages: the bare link); anything else there is a layout change.

#: ``div.tgme_widget_message[data-post="<channel>/<id>"]``: one message block
#: (a post or a service message; an album is one block under its first id).
MESSAGE = "tgme_widget_message"
#: ``div.tgme_widget_message_wrap``: holds exactly one message block (or the
#: "No posts found" row).
WRAP = "tgme_widget_message_wrap"
#: ``div.tgme_widget_message_centered``: a row holding a paging link or "No posts found".
CENTERED = "tgme_widget_message_centered"
#: ``div.tme_no_messages_found``: "No posts found" (zero-hit search, or throttling).
NO_POSTS = "tme_no_messages_found"
#: ``a.tme_messages_more[data-before=<first id on the page>]`` loads older posts
#: (absent on the channel's first page); ``[data-after]`` newer ones.
MORE = "tme_messages_more"
#: The channel's title in the right-hand column.
CHANNEL_TITLE = "div.tgme_channel_info_header_title"
#: ``div.tgme_channel_info_counter > span.counter_value + span.counter_type``:
#: "11.1M subscribers", "102 photos", "45 videos", "196 links", "3 files", ...
COUNTER = "div.tgme_channel_info_counter"
COUNTER_VALUE = "span.counter_value"
COUNTER_TYPE = "span.counter_type"
#: Counter types that do not count posts (any other counter above 0 means the
#: channel has posts, so a page of it without message blocks is a failure).
AUDIENCE_COUNTERS = frozenset({"subscriber", "subscribers", "member", "members", "online"})
#: The header's search form carries ``has_value`` on ``?q=`` pages (whose "No posts
#: found" is an answer, not a failure).
SEARCH_WITH_QUERY = "form.tgme_header_search_form.has_value"
#: ``data-post``: ``<channel username>/<message id>``.
DATA_POST_RE = re.compile(r"^(?P<channel>[A-Za-z0-9_]+)/(?P<id>[0-9]+)$")
#: A message permalink (reply header, service text): ``https://t.me/<channel>/<id>``.
PERMALINK_RE = re.compile(
    r"^(?:https?:)?//(?:www\.)?t\.me/(?:s/)?(?P<channel>[A-Za-z0-9_]+)/(?P<id>[0-9]+)(?:[?#].*)?$"
)

# -- a message block -------------------------------------------------------------------

#: The elements of a block the parser looks at, in document order.
POST_SCAN = '[class*="message"]'
#: ``message_media_not_supported_wrap``: "Please open Telegram to view this post"
#: standing in the bubble means the post's media cannot be shown on the web
#: (``unsupported``); the same box inside a player, or as the
#: ``media_not_supported_cont`` twin of JS-only content, is not.
UNSUPPORTED_BOX = "message_media_not_supported_wrap"
UNSUPPORTED_TWIN = "media_not_supported_cont"
#: Modifier classes of the message div.
SERVICE_CLASS = "service_message"  # Channel created, renamed, photo updated, pinned, ...
#: Modifier of photo and video items of an album (each linking to ``<id>?single``).
ALBUM_ITEM_CLASS = "grouped_media_wrap"
#: Modifier of the document icon of a music file.
AUDIO_ICON_CLASS = "audio"
#: The reply header's quoted text (the post's own text is ``js-message_text``).
REPLY_TEXT_CLASS = "js-message_reply_text"

# Roles: what the parser does with an element (CHROME: nothing, it is known).
CHROME = "chrome"
PAGE_LEVEL = "page_level"

#: Every ``tgme_widget_message*`` class a message block may contain:
#: class → (role, what it is).
ELEMENTS: dict[str, tuple[str, str]] = {
    "tgme_widget_message": ("message", "the message div itself (data-post, data-view)"),
    "tgme_widget_message_wrap": (PAGE_LEVEL, "the wrap around one message block"),
    "tgme_widget_message_centered": (PAGE_LEVEL, "the 'load more' / 'No posts found' row"),
    # chrome
    "tgme_widget_message_user": (CHROME, "the avatar column"),
    "tgme_widget_message_user_photo": (CHROME, "an avatar (channel, contact)"),
    "tgme_widget_message_bubble": (CHROME, "the bubble holding the content"),
    "tgme_widget_message_bubble_tail": (CHROME, "the bubble's tail (svg)"),
    "tgme_widget_message_author": (CHROME, "author line (also inside a reply header)"),
    "tgme_widget_message_owner_name": ("owner", "the channel's name on the author line"),
    "tgme_widget_message_author_name": (CHROME, "a name in a reply header or service text"),
    "tgme_widget_message_via_bot": (CHROME, "'via @bot' on the author line"),
    "tgme_widget_message_service_date_wrap": (CHROME, "date separator (added by JS)"),
    "tgme_widget_message_service_date": (CHROME, "date separator (added by JS)"),
    "tgme_widget_message_service_photo": ("service_photo", "the new photo of a channel"),
    # forward and reply headers
    "tgme_widget_message_forwarded_from": ("forwarded_from", "'Forwarded from <name>'"),
    "tgme_widget_message_forwarded_from_name": (CHROME, "the forward's source (a or span)"),
    "tgme_widget_message_forwarded_from_author": (CHROME, "the source's signature"),
    "tgme_widget_message_reply": ("reply_header", "reply header; href = the replied-to permalink"),
    "tgme_widget_message_reply_thumb": (CHROME, "thumbnail of the replied-to media"),
    "tgme_widget_message_metatext": (CHROME, "'Video', 'Photo', … of the replied-to post"),
    # text
    "tgme_widget_message_text": (
        "text",
        "text div (js-message_text; js-message_reply_text quoted)",
    ),
    # photo, album, video, gif
    "tgme_widget_message_photo_wrap": ("photo", "a photo; background-image = its URL"),
    "tgme_widget_message_photo": (CHROME, "aspect box inside a photo"),
    "tgme_widget_message_grouped_wrap": ("grouped", "an album's grid"),
    "tgme_widget_message_grouped": (CHROME, "an album's aspect box"),
    "tgme_widget_message_grouped_layer": (CHROME, "an album's item layer"),
    "tgme_widget_message_video_player": ("video", "a video (gif: no play button, no duration)"),
    "tgme_widget_message_video_thumb": (CHROME, "a video's thumbnail (background-image)"),
    "tgme_widget_message_video_wrap": (CHROME, "a video's aspect box"),
    "tgme_widget_message_video": (CHROME, "the <video> element"),
    # round video
    "tgme_widget_message_roundvideo_player": ("round", "a video note"),
    "tgme_widget_message_roundvideo_wrap": (CHROME, "a video note's circle"),
    "tgme_widget_message_roundvideo_thumb": (CHROME, "a video note's thumbnail"),
    "tgme_widget_message_roundvideo": (CHROME, "a video note's <video>"),
    "tgme_widget_message_roundvideo_muted": (CHROME, "muted icon"),
    "tgme_widget_message_roundvideo_border": (CHROME, "circle border"),
    "tgme_widget_message_roundvideo_progress_wrap": (CHROME, "progress ring (svg)"),
    "tgme_widget_message_roundvideo_progress": (CHROME, "progress ring"),
    "tgme_widget_message_roundvideo_play": (CHROME, "play button"),
    "tgme_widget_message_roundvideo_duration": (CHROME, "a video note's duration <time>"),
    # voice
    "tgme_widget_message_voice_player": ("voice", "a voice note"),
    "tgme_widget_message_voice": (CHROME, "a voice note's <audio>"),
    "tgme_widget_message_voice_play": (CHROME, "play button"),
    "tgme_widget_message_voice_wrap": (CHROME, "waveform and duration"),
    "tgme_widget_message_voice_progress_wrap": (CHROME, "waveform"),
    "tgme_widget_message_voice_progress_bg": (CHROME, "waveform"),
    "tgme_widget_message_voice_progress": (CHROME, "waveform"),
    "tgme_widget_message_voice_duration": (CHROME, "a voice note's duration <time>"),
    # documents and music
    "tgme_widget_message_document_wrap": ("document", "a file (music: icon class 'audio')"),
    "tgme_widget_message_document_icon": ("document_icon", "file icon ('audio' for music)"),
    "tgme_widget_message_document": (CHROME, "title and extra"),
    "tgme_widget_message_document_title": ("document_title", "file name (music: track title)"),
    "tgme_widget_message_document_extra": ("document_extra", "size as shown (music: performer)"),
    # stickers
    "tgme_widget_message_sticker_wrap": (CHROME, "a sticker's box"),
    "tgme_widget_message_sticker": ("sticker_webp", "static sticker; data-webp = its URL"),
    "tgme_widget_message_tgsticker_wrap": (CHROME, "animated sticker's box"),
    "tgme_widget_message_tgsticker": ("sticker_tgs", "animated sticker <picture>; source .tgs"),
    "tgme_widget_message_videosticker": ("sticker_webm", "video sticker; <video src=.webm>"),
    # polls
    "tgme_widget_message_poll": ("poll", "a poll or quiz"),
    "tgme_widget_message_poll_question": ("poll_question", "the question"),
    "tgme_widget_message_poll_type": ("poll_type", "'Anonymous Poll', 'Anonymous Quiz', …"),
    "tgme_widget_message_poll_options": (CHROME, "the options' link"),
    "tgme_widget_message_poll_option": ("poll_option", "one option"),
    "tgme_widget_message_poll_option_percent": ("poll_percent", "'60%'"),
    "tgme_widget_message_poll_option_value": (CHROME, "text and bar"),
    "tgme_widget_message_poll_option_text": ("poll_text", "the option's text"),
    "tgme_widget_message_poll_option_bar": (CHROME, "the option's bar"),
    "tgme_widget_message_poll_option_radio": (CHROME, "unanswered radio (CSS only)"),
    # location, venue, contact
    "tgme_widget_message_location_wrap": ("location", "a map pin; href = a maps link"),
    "tgme_widget_message_location": ("location_map", "the map image (background-image)"),
    "tgme_widget_message_location_info": (CHROME, "a venue's title and address"),
    "tgme_widget_message_location_title": ("venue_title", "a venue's title"),
    "tgme_widget_message_location_address": ("venue_address", "a venue's address"),
    "tgme_widget_message_contact_wrap": ("contact", "a shared contact"),
    "tgme_widget_message_contact": (CHROME, "name and phone"),
    "tgme_widget_message_contact_name": ("contact_name", "the contact's name"),
    "tgme_widget_message_contact_phone": ("contact_phone", "the phone number as shown"),
    # link preview, reactions, buttons
    "tgme_widget_message_link_preview": ("link_card", "link card; href = the URL"),
    "tgme_widget_message_reactions": (CHROME, "reactions"),
    "tgme_widget_message_inline_keyboard": (CHROME, "URL buttons under the bubble"),
    "tgme_widget_message_inline_row": (CHROME, "a row of buttons"),
    "tgme_widget_message_inline_button": ("button", "a URL button"),
    "tgme_widget_message_inline_button_text": (CHROME, "a button's label"),
    # footer
    "tgme_widget_message_footer": (CHROME, "the footer"),
    "tgme_widget_message_info": (CHROME, "views, voters, signature, edited, date"),
    "tgme_widget_message_views": ("views", "'845', '1.2K' (absent on service messages)"),
    "tgme_widget_message_voters": ("voters", "a poll's voters"),
    "tgme_widget_message_meta": ("meta", "signature, 'edited', date link"),
    "tgme_widget_message_from_author": ("signature", "the signature of a signed post"),
    "tgme_widget_message_date": ("date", "permalink holding <time datetime>"),
}

#: Inside ``a.tgme_widget_message_link_preview``.
LINK_PREVIEW_SCAN = '[class*="link_preview_"]'
LINK_PREVIEW_PARTS: dict[str, str] = {
    "link_preview_site_name": "site_name",
    "link_preview_title": "title",
    "link_preview_description": "description",  # <br/> are line breaks
    "link_preview_image": "image",  # large image above the title (background-image)
    "link_preview_right_image": "image",  # small image on the right
    "link_preview_video_thumb": "video_thumb",  # a previewed video's thumbnail
}

#: Service messages: the visible wording (English, as t.me serves to
#: ``Accept-Language: en``) → action. The first match wins; anything else is "other".
SERVICE_TEXTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Channel created$"), "channel_created"),
    (re.compile(r"^Channel name was changed to «(?P<title>.*)»$", re.S), "title_changed"),
    (re.compile(r"^Channel photo updated$"), "photo_changed"),
    (re.compile(r"^Channel photo removed$"), "photo_removed"),
    (re.compile(r"\spinned\s"), "pinned"),
)
