"""Texts of the demo corpus: products, prices, contacts, links, mentions, hashtags."""

from __future__ import annotations

import random

from databox.replica.telegram_model import Forward

PRODUCTS = (
    "Paracetamol 500mg (10 tablets)",
    "Amoxicillin 250mg capsules",
    "Vitamin C 1000mg effervescent",
    "Omeprazole 20mg",
    "Ibuprofen 400mg",
    "ORS sachets (box of 20)",
    "Zinc 20mg dispersible",
    "Omron M2 blood pressure monitor",
    "Accu-Chek glucometer + 50 strips",
    "N95 masks (box of 20)",
    "CeraVe Hydrating Cleanser 236ml",
    "Cetaphil Moisturising Cream 453g",
    "La Roche-Posay Effaclar Duo 40ml",
    "Neutrogena Sunscreen SPF 50+",
    "The Ordinary Niacinamide 10% + Zinc 1%",
    "Hyaluronic acid serum 30ml",
    "Nivea Soft cream 200ml",
    "Shea butter body lotion 400ml",
)
EMOJI = ("💊", "🔥", "✅", "🧴", "💉", "🌿", "✨", "🩺", "⚠️", "💯")
ADDRESSES = (
    "Bole, Addis Ababa / ቦሌ, አዲስ አበባ",
    "Piassa, near St. George church",
    "Megenagna, 2nd floor of Zefmesh mall",
    "CMC road / ሲኤምሲ",
)
HASHTAGS = ("#vitamins", "#skincare", "#pharmacy", "#AddisAbaba", "#sale", "#ጤና")
MENTIONS = ("@EFDAEthiopia", "@tikvahethiopia", "@MoHEthiopia")
SIGNERS = ("Dr. Selam T.", "Pharm. Dawit", "Hana (admin)")
#: Earlier titles of each demo channel, oldest first (title changes walk through them).
FORMER_TITLES = {
    "CheMed123": ("CheMed", "CheMed Pharmacy", "CheMed Pharmacy & Medical Supplies"),
    "lobelia4cosmetics": ("Lobelia", "Lobelia cosmetics", "Lobelia pharmacy"),
    "tikvahpharma": ("Tikvah Pharma", "Tikvah-Pharma", "Tikvah | Pharma ET"),
}
FORWARDS = (
    Forward("EFDA Ethiopia", "https://t.me/EFDAEthiopia/2211"),
    Forward("Ministry of Health, Ethiopia", "https://t.me/MoHEthiopia/874", "Dr. Lia T."),
    Forward("Tikvah-Ethiopia", "https://t.me/tikvahethiopia/90412"),
    Forward("Abebe K."),  # a user who hides their account: name, no link
)
PREVIEWS = (
    (
        "https://www.who.int/news-room/fact-sheets/detail/malaria",
        "World Health Organization",
        "Malaria",
        "Key facts\nSymptoms\nWho is at risk, diagnosis and treatment.",
    ),
    (
        "https://www.efda.gov.et/recall-notice",
        "EFDA",
        "Product recall notice",
        "The Ethiopian Food and Drug Authority recalls two batches of an antibiotic syrup.\n\n"
        "Return them to the pharmacy where you bought them.",
    ),
    (
        "https://www.youtube.com/watch?v=skincare101",
        "YouTube",
        "Skin care 101: building a routine",
        None,
    ),
    (
        "https://telegra.ph/Sunscreen-guide-03-12",
        "Telegraph",
        "Which sunscreen for which skin?",
        None,
    ),
)


def phone(rng: random.Random) -> str:
    return (
        f"09{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    )


def _extras(rng: random.Random, username: str) -> tuple[str, list[tuple[str, str]]]:
    """Lines with links, text links, mentions, hashtags and e-mails, each sometimes."""
    lines, links = [], []
    if rng.random() < 0.25:
        label = rng.choice(("our website", "order form", "price list"))
        lines.append(f"👉 See {label}")
        links.append((label, f"https://{username.lower()}.example/{label.split()[-1]}"))
    if rng.random() < 0.15:
        lines.append(f"Web: https://{username.lower()}.example/shop")
    if rng.random() < 0.2:
        lines.append(f"Ask {rng.choice(MENTIONS)} or @{username}")
    if rng.random() < 0.1:
        lines.append(f"✉️ orders@{username.lower()}.example")
    if rng.random() < 0.4:
        lines.append(" ".join(rng.sample(HASHTAGS, rng.randint(1, 3))))
    return "".join(f"\n{line}" for line in lines), links


def demo_text(
    rng: random.Random, kind: str, username: str
) -> tuple[str | None, list[tuple[str, str]]]:
    """The text (or caption) of a post of ``kind`` and its text links (label, URL)."""
    product = rng.choice(PRODUCTS)
    price = rng.choice((45, 120, 250, 380, 650, 1200, 2450, 3900))
    emoji = rng.choice(EMOJI)
    extra, links = _extras(rng, username)
    if kind in ("photo", "album", "album_mixed", "video", "document") and rng.random() < 0.15:
        return None, []  # media without caption
    if kind in ("photo", "album", "album_mixed", "video"):
        text = (
            f"{emoji} {product}\n"
            f"ዋጋ / Price: {price:,} ETB\n"
            f"📞 {phone(rng)}\n"
            f"📍 {rng.choice(ADDRESSES)}"
        )
        return text + extra, links
    if kind == "list":
        lines = [
            f"- {p} — {rng.choice((90, 150, 320, 560, 980))} ETB" for p in rng.sample(PRODUCTS, 3)
        ]
        head = "አዲስ እቃ ገብቷል / New stock arrived 🔥\n"
        return head + "\n".join(lines) + f"\n\nOrder: @{username}" + extra, links
    if kind == "link":
        return "ለበለጠ መረጃ / More info 👇", []  # the caller appends the previewed URL
    if kind == "forward":
        return (
            f"⚠️ Notice: {product} batch recall. Return it to the pharmacy & keep the receipt.",
            [],
        )
    if kind == "document":
        return "Our price list for this month 📄" + extra, links
    if kind == "audio":
        return (None, []) if rng.random() < 0.5 else ("Listen before your next visit 🎧", [])
    if kind != "text":
        return None, []  # stickers, polls, voice, round video, location, contact, …
    text = rng.choice(
        (
            f"Open today 8:00–20:00 ✅\nይደውሉልን: {phone(rng)}",
            "Tip: keep insulin between 2–8 °C. Don't freeze it!\nQ&A every Friday <live>",
            f"Buy 2 & get 1 free on {product} 🎁\nOffer ends Sunday.",
            f'"Original" products only. Price < {price} ETB\nDelivery in Addis 🚚',
        )
    )
    return text + extra, links
