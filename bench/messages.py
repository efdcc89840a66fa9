"""Web-form submissions as customers write them, for the benchmarks.

A one-line question ("Help" / "How do I reset my password?") is about 15 tokens; what reaches a
support inbox runs from that to a paragraph with a greeting, what was tried, why it is urgent
and a signature (60 tokens and more). The embedding model's cost grows with the tokens, so the
mix decides what an answer costs. `submission(i)` is deterministic: the same i, the same text.
"""

from __future__ import annotations

import random

# (subject, ways to ask) about the demo knowledge base's topics.
TOPICS = [
    (
        "Password",
        [
            "I forgot my password, how do I reset it?",
            "The password reset email never arrives. I checked the spam folder too.",
        ],
    ),
    (
        "Sync problem",
        [
            "My files are not syncing on my Windows laptop.",
            "The sync icon has been stuck on 'Connecting' since this morning.",
        ],
    ),
    (
        "Sharing",
        [
            "How can I share a folder with someone outside my company?",
            "A colleague can see the shared folder but cannot edit the files in it.",
        ],
    ),
    (
        "Invoice",
        [
            "Where do I download last month's invoice?",
            "Our accounts team needs invoices with our VAT number on them. How do I add it?",
        ],
    ),
    (
        "Security",
        [
            "How do I turn on two-factor authentication?",
            "I lost the phone with my authenticator app and cannot sign in any more.",
        ],
    ),
    (
        "Storage",
        [
            "What happens when I run out of storage on the Free plan?",
            "It says my storage is full but I deleted a lot of files yesterday.",
        ],
    ),
    (
        "Deleted files",
        [
            "Can I restore a file I deleted last week?",
            "I deleted a folder of project files by mistake. Can it be brought back?",
        ],
    ),
    (
        "Team seats",
        [
            "How do I add three more seats to our Business team?",
            "We hired two people. What do extra seats cost and when are they billed?",
        ],
    ),
    (
        "Upload",
        [
            "Uploading a 30 GB video fails at about 80% every time.",
            "Is there a size limit for a single file?",
        ],
    ),
    (
        "Plan",
        [
            "What is the difference between the Business and Enterprise plans?",
            "How do I downgrade to the Free plan at the end of this month?",
        ],
    ),
]

OPENINGS = ["", "", "Hi,", "Hello,", "Hi team,", "Good morning,"]
DETAILS = [
    "This started yesterday.",
    "I already restarted the app and my computer, and signed out and back in.",
    "It worked fine until last week.",
    "Several people on our team have the same problem.",
    "We have a client deadline on Friday, so this is quite urgent for us.",
    "I could not find the answer in your help center.",
    "I am on a Mac with the latest version of the desktop app.",
    "We are on the Business plan with about forty users.",
]
CLOSINGS = ["", "", "Thanks!", "Thank you for your help.", "Regards, {name}", "Best, {name}"]
SIGNATURES = ["Dana", "Tom", "Priya", "Lukas", "Amara", "Chen", "Sofia"]


def submission(i: int) -> dict[str, str]:
    """Customer i's web-form submission: one line to a short paragraph."""
    pick = random.Random(i)
    subject, asks = TOPICS[i % len(TOPICS)]
    details = pick.sample(DETAILS, k=pick.choice([0, 0, 1, 1, 2, 3]))
    parts = [pick.choice(OPENINGS), pick.choice(asks), *details]
    parts.append(pick.choice(CLOSINGS).format(name=pick.choice(SIGNATURES)))
    return {
        "name": f"Customer {i}",
        "email": f"customer{i % 5000}@example.com",
        "subject": subject,
        "message": " ".join(p for p in parts if p),
    }
