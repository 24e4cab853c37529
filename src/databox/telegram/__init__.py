"""Telegram sources: the public web preview (t.me/s) and Telethon (user session)."""
