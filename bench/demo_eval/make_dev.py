"""Write dev.jsonl: customer-style messages for the demo knowledge base, in `fte eval`'s format.

Written by hand for development (d76 onwards added in a later session, each written before
the agent was run on it) (the held-out demo set that measures the product is kept apart
from the project). Answerable rows name the article (its file name) and the section (its
heading) that answers them; `fte eval` scores focus against that section. Run it from the
repository root: `python bench/demo_eval/make_dev.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

A = "answer"
ROWS: list[tuple[str, str, str | None, str | None]] = [
    # (text, article or gold reason, article, section)
    ("hi, I clicked reset but no email came?? checked twice", A, "reset-password",
     "The reset email doesn't arrive"),
    ("forgot my pasword and cant log in, how do i reset it", A, "reset-password",
     "Reset a forgotten password"),
    ("I know my current password but want to change it to something stronger", A,
     "reset-password", "Changing your password"),
    ("It keeps saying 'Your account is temporarily locked' when I try to log in. What now?", A,
     "sign-in-problems", "\"Your account is temporarily locked\""),
    ("the desktop app just won't sign me in, browser works fine", A, "sign-in-problems",
     "The desktop app won't sign in"),
    ("my 2fa code gets rejected every time, the phone clock looks right", A,
     "sign-in-problems", "Your two-factor code is rejected"),
    ("I lost my phone with the authenticator app on it and now I can't get in!", A,
     "two-factor-authentication", "Lost your phone or security key?"),
    ("how do I switch on two factor for my account?", A, "two-factor-authentication",
     "Turn on 2FA"),
    ("can I force everyone on my team to use 2FA?", A, "two-factor-authentication",
     "Requiring 2FA for a team"),
    ("My laptop was stolen yesterday. Can I erase my CloudSync files on it from here?", A,
     "device-management-remote-wipe", "Remotely wipe a lost device (Plus and Business)"),
    ("how do i unlink an old phone from my account", A, "device-management-remote-wipe",
     "Unlink a device"),
    ("files stopped syncing since this morning, what should I check first", A,
     "files-not-syncing", "Quick checks"),
    ("one spreadsheet never syncs while everything else does", A, "files-not-syncing",
     "File-specific problems"),
    ("There's a file called 'report (Ana's conflicted copy)' in my folder, what is that?", A,
     "sync-conflicts", "What a conflicted copy looks like"),
    ("how do I sort out a conflicted copy and keep the right version", A, "sync-conflicts",
     "How to resolve a conflict"),
    ("what does the little blue circle arrows icon on my files mean", A, "sync-status-icons",
     "Icons on files and folders"),
    ("the green ticks disappeared from my files in Finder", A, "sync-status-icons",
     "Icons are missing"),
    ("I'm on a video call and the sync is eating my bandwidth, can I stop it for an hour?", A,
     "pause-sync", "Pause sync"),
    ("is there a way to limit upload speed rather than pausing entirely", A, "pause-sync",
     "Slowing sync down instead of pausing"),
    ("I only want some folders on my small laptop SSD, not all of them", A, "selective-sync",
     "Turn folders on or off"),
    ("whats the biggest file I can upload on the free plan", A, "large-files-upload-limits",
     "Maximum file size by plan"),
    ("uploading a 30GB video through the browser keeps failing", A,
     "large-files-upload-limits", "Web uploads"),
    ("I got an email saying I'm at 90% of my storage, what happens at 100%?", A,
     "out-of-storage", "When you reach 100%"),
    ("how can I free up some space? I'm nearly full", A, "out-of-storage",
     "How to free up space"),
    ("I accidentally overwrote a document, can I get yesterday's version back?", A,
     "version-history-deleted-files", "Restore an earlier version of a file"),
    ("i deleted a folder by mistake last week, can i recover it", A,
     "version-history-deleted-files", "Recover deleted files"),
    ("How do I share a folder with my accountant from the website?", A, "share-a-folder",
     "Share from the web app"),
    ("I invited my brother to a folder, what does he need to do on his side?", A,
     "share-a-folder", "What invitees need to do"),
    ("can I put a password and an expiry date on a link I send to a client", A, "share-links",
     "Link settings (Plus and Business)"),
    ("how do I make a share link for a file", A, "share-links", "Create a link"),
    ("what's the difference between editor and viewer when I share?", A,
     "sharing-permissions", "What each role can do"),
    ("I want to stop editors re-sharing my folder with other people", A,
     "sharing-permissions", "Stop Editors from inviting people"),
    ("An ex-colleague still has access to our shared folder, how do I remove him?", A,
     "remove-access", "Remove a person from a shared folder"),
    ("how do I kill a share link I sent out by mistake", A, "remove-access",
     "Turn off a share link"),
    ("how is a team folder different from a normal shared folder", A, "team-folders",
     "How team folders differ from shared folders"),
    ("as the admin, how do I create a team folder for the finance people?", A,
     "team-folders", "Create a team folder"),
    ("we hired 4 people, how do I add seats to our Business plan", A, "add-team-seats",
     "Add seats"),
    ("How do we set up SAML single sign-on with Okta?", A, "sso-saml", "Set up SSO"),
    ("where can I see who deleted files in our team? need the log", A, "audit-log",
     "Open the audit log"),
    ("can I export the audit log to a CSV for our compliance people", A, "audit-log",
     "Export"),
    ("are my files encrypted on your servers?", A, "encryption", "Encryption at rest"),
    ("Can your staff read my files?", A, "encryption", "Who can see my files?"),
    ("in which country is my data stored", A, "encryption", "Where data is stored"),
    ("need an invoice for my accountant, where do I download it", A, "invoices-and-receipts",
     "Download an invoice"),
    ("the company name on my invoice is wrong, can it be fixed?", A, "invoices-and-receipts",
     "Correcting an invoice"),
    ("how do I add our VAT number to the invoices", A, "update-billing-details", "Tax"),
    ("my card expired and the payment failed, how long until you lock my account?", A,
     "failed-payment", "The timeline"),
    ("the bank keeps declining my card, tried 3 times", A, "failed-payment",
     "If your bank keeps declining"),
    ("can I pay with paypal?", A, "payment-methods", "Accepted payment methods"),
    ("how do I change the card you charge", A, "payment-methods",
     "Change the default card or remove a card"),
    ("when is my next payment date?", A, "billing-cycle", "Find your next billing date"),
    ("I want to switch from monthly to yearly billing", A, "billing-cycle",
     "Switching between monthly and annual"),
    ("how much is Plus per month", A, "compare-plans", "Plus: $10 per month or $96 per year"),
    ("what happens to my files if I downgrade to free", A, "upgrade-downgrade-plan",
     "What changes when you downgrade"),
    ("how do i upgrade to plus", A, "upgrade-downgrade-plan", "Upgrade to Plus"),
    ("I changed jobs, how do I change the email I log in with?", A, "change-email", "Steps"),
    ("I never got the verification email after signing up", A, "create-account",
     "Didn't get the verification email?"),
    ("how do I delete my account for good", A, "delete-account", "Delete your account"),
    # Refund demands, some without the word.
    ("I was charged for a whole year when I meant to cancel. I want my money back.",
     "get_refund", "refunds-and-custom-pricing", None),
    ("please reverse the charge from last week, I never used the plan", "get_refund",
     "refunds-and-custom-pricing", None),
    ("you took the payment twice this month, return the second payment please", "get_refund",
     "refunds-and-custom-pricing", None),
    ("I'd like a refund for the annual renewal that went through yesterday", "get_refund",
     "refunds-and-custom-pricing", None),
    # Asks for a person.
    ("can I talk to a real person please, this bot is useless", "contact_human_agent", None,
     None),
    # Out of scope: the knowledge base does not answer these.
    ("Do you have a Slack integration? we'd like notifications in our channel",
     "out_of_scope", None, None),
    ("can we install CloudSync on our own servers on-premises?", "out_of_scope", None, None),
    ("We're an IT reseller and want to sell CloudSync to our clients, what margins do you "
     "offer?", "out_of_scope", None, None),
    ("Hi, I'm a journalist writing about cloud storage, who can I talk to for a comment?",
     "out_of_scope", None, None),
    ("are you hiring? I'd love to apply for a backend engineering role", "out_of_scope", None,
     None),
    ("does cloudsync work with my Synology NAS as a backup target", "out_of_scope", None,
     None),
    ("Is there a public API I can use to upload files from my own app?", "out_of_scope",
     None, None),
    ("can you recommend a good laptop for video editing", "out_of_scope", None, None),
    ("do you support Zapier or IFTTT automations", "out_of_scope", None, None),
    ("what's your company's address? I want to send a letter", "out_of_scope", None, None),
    ("Can I become an affiliate partner and earn commission?", "out_of_scope", None, None),
    ("is CloudSync HIPAA compliant, will you sign a BAA", "out_of_scope", None, None),
    # Added later (d76-), written before running the agent on them.
    ("Do you offer a white-label version we could resell under our own brand?",
     "out_of_scope", None, None),
    ("We are a reseller: what discount margins do partners get on CloudSync Business?",
     "out_of_scope", None, None),
    ("Can CloudSync back up my Synology NAS automatically?", "out_of_scope", None, None),
    ("does cloudsync run on a raspberry pi as a home server", "out_of_scope", None, None),
    ("can I host cloudsync on my own hardware in our datacenter", "out_of_scope", None, None),
    ("I'm a reseller, what wholesale margins do you offer on the plans?", "out_of_scope",
     None, None),
    ("Is CloudSync available as a self-hosted appliance for our datacenter?", "out_of_scope",
     None, None),
    ("how do I turn sync back on after pausing it", A, "pause-sync", "Resume sync"),
    ("we're downsizing, how do I remove 3 seats from our plan", A, "add-team-seats",
     "Remove seats"),
    ("my old work email is gone, how can I change the address on my account?", A,
     "change-email", "I can't access my old email address"),
    ("are files kept in the EU or the US?", A, "encryption", "Where data is stored"),
    ("Third time this month your sync deleted my whole Projects folder. I'm done with you.",
     "data_loss", None, None),
    ("Someone logged into my account from another country and changed my password",
     "security", None, None),
    ("Your support agent was rude to me on the phone and then hung up on me.", "complaint",
     None, None),
    ("We're not renewing. The app has been unreliable for months and our tickets go "
     "unanswered.", "churn_risk", None, None),
]  # fmt: skip


def write(rows: list[tuple[str, str, str | None, str | None]], name: str, prefix: str) -> None:
    """Write `rows` to the file `name` beside this script, ids `prefix` + number."""
    out = Path(__file__).with_name(name)
    with out.open("w", encoding="utf-8") as handle:
        for i, (text, label, article, section) in enumerate(rows, start=1):
            row: dict[str, object] = {"id": f"{prefix}{i:02d}", "text": text, "channel": "web_form"}
            if label == A:
                row |= {"article": article, "section": section, "escalate": False}
            else:
                row |= {"article": article, "escalate": True, "reason": label}
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    """Write dev.jsonl beside this script."""
    write(ROWS, "dev.jsonl", "d")


if __name__ == "__main__":
    main()
