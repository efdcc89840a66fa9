import pytest

from fte.agent.escalation import message_reason
from fte.knowledge.escalation import topic_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("My lawyer will contact you about this.", "legal_language"),
        ("I am going to sue CloudSync if my files are not back", "legal_language"),
        ("Expect to hear from my attorney", "legal_language"),
        ("I want to speak to a human, now", "human_requested"),
        ("Can I talk to a real person please?", "human_requested"),
        ("Please connect me with a customer service representative", "human_requested"),
        ("I was charged twice this month", "refund"),
        ("I want a refund for last month.", "refund"),
        ("Give me my money back", "refund"),
        ("Do you offer a discount for non-profits?", "pricing"),
        ("We need a quote for 300 seats", "pricing"),
        # legal outranks the refund it also asks for
        ("Refund me or my lawyer sues", "legal_language"),
    ],
)
def test_message_rules_name_the_reason(text: str, reason: str) -> None:
    assert message_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "How do I reset my password?",
        "My files are not syncing on my laptop",
        "How do I share a folder with a colleague?",
        "The courtyard photos folder won't upload",  # 'court' only as a whole word
        "Where can I download my invoices?",
        # Questions *about* refunds and prices are for the knowledge base, not a human.
        "How long do refunds usually take?",
        "In which cases can I request a refund?",
        "How much does the Business plan cost per seat?",
        "I am waiting for a refund of $12, has it been processed?",
    ],
)
def test_ordinary_questions_are_not_escalated_by_rules(text: str) -> None:
    assert message_reason(text) is None


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("Get refund", "refund"),
        ("Refunds and custom pricing", "refund"),
        ("Contact human agent", "human_requested"),
        ("Complaint", "complaint"),
        ("Track refund", None),
        ("Check refund policy", None),
        ("Contact customer service", None),
        ("In Gmail, how can I find the oldest message from a person?", None),
        ("Resetting your password", None),
    ],
)
def test_article_titles_that_name_an_escalation_topic(title: str, reason: str | None) -> None:
    assert topic_reason(title) == reason
