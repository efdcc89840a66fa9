from fte.agent.placeholders import fill_placeholders


def test_placeholders_are_filled_from_the_message() -> None:
    text = "Hi {{Customer Name}}, order {{Order Number}} ships tomorrow."
    assert (
        fill_placeholders(text, "where is order 113542617735?", "Ada")
        == "Hi Ada, order 113542617735 ships tomorrow."
    )


def test_unknown_placeholders_are_left_out_never_sent_raw() -> None:
    text = (
        "Visit {{Website URL}} or call {{Customer Support Phone Number}}. Order {{Order Number}}."
    )
    filled = fill_placeholders(text, "no numbers here", None)
    assert "{{" not in filled and "}}" not in filled
    assert filled == "Visit or call. Order."


def test_text_without_placeholders_is_untouched() -> None:
    assert fill_placeholders("Plain  text.", "x", None) == "Plain  text."
