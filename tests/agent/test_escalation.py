import pytest

from fte.agent.escalation import rule_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("My lawyer will contact you about this.", "legal_language"),
        ("I am going to sue CloudSync if my files are not back", "legal_language"),
        ("Expect to hear from my attorney", "legal_language"),
        ("I want to speak to a human, now", "human_requested"),
        ("Can I talk to a real person please?", "human_requested"),
        ("Please connect me with a customer service representative", "human_requested"),
        ("I was charged twice, I want a refund", "refund"),
        ("How do I get my money back?", "refund"),
        ("How much does the Business plan cost per seat?", "pricing"),
        ("Do you offer a discount for non-profits?", "pricing"),
        # legal outranks the refund it also asks for
        ("Refund me or my lawyer sues", "legal_language"),
    ],
)
def test_rules_name_the_reason(text: str, reason: str) -> None:
    assert rule_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "How do I reset my password?",
        "My files are not syncing on my laptop",
        "How do I share a folder with a colleague?",
        "The courtyard photos folder won't upload",  # 'court' only as a whole word
        "Where can I download my invoices?",
    ],
)
def test_ordinary_questions_are_not_escalated_by_rules(text: str) -> None:
    assert rule_reason(text) is None
