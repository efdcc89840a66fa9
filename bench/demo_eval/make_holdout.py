"""Write holdout.jsonl: customer-style messages for the demo knowledge base, never tuned on.

Written by hand in one sitting, before the agent was run on any of them and before the
section choice and answer decision of that session were changed; unlike `dev.jsonl` (which
the rules were developed against) no rule, weight or threshold was chosen by looking at how
these rows came out. Score them with `fte eval bench/demo_eval --split holdout --kb
src/fte/knowledge/demo_kb` and report them apart from dev. Same format as `make_dev.py`.
Run it from the repository root: `python bench/demo_eval/make_holdout.py`.
"""

from __future__ import annotations

from make_dev import A, write

ROWS: list[tuple[str, str, str | None, str | None]] = [
    # (text, article or gold reason, article, section)
    ("my receipts stopped showing up in my inbox after I pay", A, "invoices-and-receipts",
     "Receipts aren't arriving"),
    ("how long do you keep audit events for?", A, "audit-log", "How long events are kept"),
    ("what's in the Business plan and how much is it per user", A, "compare-plans",
     "Business: $15 per seat per month billed annually, or $18 billed monthly"),
    ("if I upgrade in the middle of the month do I pay the full price straight away?", A,
     "billing-cycle", "Mid-cycle changes"),
    ("the app now says my team requires single sign-on and my password doesn't work", A,
     "sign-in-problems", "\"Your team requires single sign-on\""),
    ("it keeps telling me incorrect email or password but I'm sure I typed it right", A,
     "sign-in-problems", "\"Incorrect email or password\""),
    ("folders my colleagues create keep downloading to my laptop, can I stop new ones "
     "syncing automatically?", A, "selective-sync", "New folders"),
    ("what's the difference between selective sync and online-only files?", A,
     "selective-sync", "Selective sync vs online-only files"),
    ("the cloudsync icon in my menu bar has a red exclamation mark on it", A,
     "sync-status-icons", "Icons on the app icon"),
    ("I keep getting dozens of conflicted copies every single day, why??", A,
     "sync-conflicts", "Many conflicted copies keep appearing"),
    ("can sync stop by itself when my laptop is on battery?", A, "pause-sync",
     "Pausing automatically"),
    ("someone shared a folder with me that I don't need anymore, how do I get out of it", A,
     "remove-access", "Leaving a folder someone shared with you"),
    ("I emptied the trash by mistake, can you get those files back?", A,
     "version-history-deleted-files", "Permanently deleted files"),
    ("is there somewhere I can see all the links I've shared so far?", A, "share-links",
     "See and manage your links"),
    ("how do I archive a team folder the old project used", A, "team-folders",
     "Archive or delete a team folder"),
    ("what happens to my files after I delete my account, are they erased straight away?", A,
     "delete-account", "What happens next"),
    ("invoices go to my personal address, I want them sent to our finance mailbox", A,
     "update-billing-details", "Billing email vs sign-in email"),
    ("the payment failed because my card expired, how do I pay the unpaid invoice now", A,
     "failed-payment", "How to fix it"),
    ("Do you integrate with Microsoft Teams so we get a message when a file changes?",
     "out_of_scope", None, None),
    ("Can we run CloudSync inside our own private cloud on AWS instead of yours?",
     "out_of_scope", None, None),
    ("I'm organising a conference on data privacy, would CloudSync like to sponsor it?",
     "out_of_scope", None, None),
    ("We're a managed service provider and want to bundle CloudSync for our customers, "
     "what partner pricing is there?", "out_of_scope", None, None),
    ("can your team migrate our 2 TB from Google Drive for us?", "out_of_scope", None, None),
    ("You charged me again after I cancelled in March. Put the money back on my card.",
     "get_refund", None, None),
    ("All the photos of my kids vanished from CloudSync after the update. Years of memories "
     "gone.", "data_loss", None, None),
    ("I got an email saying my password was changed but it wasn't me", "security", None,
     None),
    ("I've waited nine days for a reply from your support team, this is appalling service.",
     "complaint", None, None),
    ("I'd like to speak to someone on your team by phone please", "contact_human_agent",
     None, None),
]  # fmt: skip


def main() -> None:
    """Write holdout.jsonl beside this script."""
    write(ROWS, "holdout.jsonl", "h")


if __name__ == "__main__":
    main()
