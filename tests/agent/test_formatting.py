from fte.agent.formatting import greeting, markdown_to_text, split_text, strip_title


def test_markdown_becomes_plain_text() -> None:
    md = (
        "# Title\n\nUse **Settings** → *Account*.\n\n* one\n* two\n\nSee [help](https://x.example)."
    )
    text = markdown_to_text(md)
    assert "**" not in text and "#" not in text
    assert "Use Settings → Account." in text
    assert "- one\n- two" in text
    assert "help (https://x.example)" in text


def test_strip_title_removes_only_the_matching_heading() -> None:
    assert strip_title("# Resetting your password\n\nBody", "Resetting your password") == "Body"
    assert strip_title("# Other\n\nBody", "Resetting your password").startswith("# Other")


def test_greeting_uses_first_name_or_falls_back() -> None:
    assert greeting("Ada Lovelace") == "Hi Ada,"
    assert greeting(None) == "Hi there,"
    assert greeting("  ") == "Hi there,"
    assert greeting("123") == "Hi there,"


def test_split_text_keeps_every_word_within_the_limit() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10))
    parts = split_text(text, 400)
    assert all(len(p) <= 400 for p in parts)
    assert " ".join(parts).split() == text.split()
    assert split_text("short", 400) == ["short"]


def test_headings_keep_the_blank_line_before_them() -> None:
    assert markdown_to_text("Intro.\n\n## Steps\n\n1. Go") == "Intro.\n\nSteps\n\n1. Go"


def test_email_replies_greet_cite_sign_off_and_reference_the_ticket() -> None:
    from fte.channels.imap_smtp.adapter import email_reply

    text = email_reply("Click Reset.", "Ada Lovelace", 42, "CloudSync Pro", ["Resetting"])
    assert text.startswith("Hi Ada,\n\nClick Reset.")
    assert "help centre: Resetting." in text
    assert "Best regards,\nCloudSync Pro Support" in text
    assert text.endswith("Ticket reference: #42")


def test_whatsapp_replies_are_short_parts_under_the_limit_in_order() -> None:
    from fte.channels.whatsapp_twilio.adapter import WHATSAPP_LIMIT, whatsapp_reply

    body = "\n\n".join(f"Step {i}: " + "tap the button " * 40 for i in range(8))
    parts = whatsapp_reply(body, "Ada", ["Sharing"])
    assert len(parts) > 1 and all(len(p) <= WHATSAPP_LIMIT for p in parts)
    assert parts[0].startswith("Hi Ada! Step 0")
    assert parts[-1].endswith("(From our help article: Sharing)")
    joined = " ".join(parts)
    assert [joined.index(f"Step {i}:") for i in range(8)] == sorted(
        joined.index(f"Step {i}:") for i in range(8)
    )
