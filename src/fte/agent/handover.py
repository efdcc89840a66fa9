"""Messages a person must read whatever the knowledge base says: the hand-over policy.

A support team hands a message over, even a first one, when answering it with an article would
be the wrong response: the customer reports a security incident (`security`), says the
product lost their data (`data_loss`), is leaving in anger (`churn_risk`), or complains about
the service or the staff (`complaint`), including a very negative message that is a complaint
rather than a request for help. A calm problem report ("my files are not syncing, what should I
do?") is answered.

The cues are written from each concept, not from any data set: what a customer writes when
the thing has happened to them. Wording that only asks *about* the thing ("how do I know if my
account was hacked?", "what happens to my files if I cancel?") is a question for the knowledge
base, so a cue in a hypothetical sentence does not count. The sentiment score adds the tone the
words alone do not carry. `bench/handover.py` measures precision and recall per reason.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from fte.agent import escalation
from fte.agent.responders import local

if TYPE_CHECKING:
    from fte.agent.sentiment import SentimentResult

_I = re.IGNORECASE

# A sentence that wonders or plans ("if", "whether", "in case", "how do I prevent") asks about
# an incident, it does not report one.
_HYPOTHETICAL = re.compile(
    r"\b(?:if|whether|in case|what happens|could it|make sure|is it possible that)\b|"
    # "how do I protect my account from being hacked", not "it was hacked, how do I protect it"
    r"\b(?:prevent|protect|avoid|stop)\b[^.!?]{0,30}\b(?:being|getting|from)\b",
    _I,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")

_DATA = (
    r"(?:files?|folders?|data|photos?|pictures?|images?|videos?|documents?|docs|work|"
    r"contacts?|e-?mails|messages|notes|history|projects?|backups?|everything|recordings?|"
    r"spreadsheets?|database|uploads|library|albums?|drafts?|progress|records)"
)
_LOST = r"(?:wiped|erased|deleted|destroyed|corrupted|overwr(?:ote|itten)|lost|removed)"
# "my work email is gone", "the photo app vanished": the data word names the kind of a thing
# that is not data, and that thing is what went missing.
_NOT_DATA_HEAD = (
    r"(?!\s+(?:e-?mail|address|account|phone|app|application|laptop|computer|device|login|"
    r"password|number|card|icon|button|menu|tab|link)\b)"
)

SECURITY_CUES: Final = re.compile(
    r"\b(?:hacked|hijacked|compromised|taken over|breached)\b|"
    r"\b(?:someone|somebody|a stranger|an? unknown (?:person|device|user)|someone else|"
    r"another person)\b[^.!?]{0,40}\b(?:logged in|log(?:ged)? into|signed in|sign(?:ed)? into|"
    r"accessed|got into|broke into|is using|has been using|changed my|reset my)\b|"
    r"\b(?:logins?|log-ins?|sign-ins?|activity|devices?|charges?|transactions?|payments?|"
    r"purchases?|orders?)\b[^.!?]{0,30}?\s(?:that\s+)?(?:I|we)\s+(?:don't|do not|didn't|did not|"
    r"never)\s+"
    r"(?:recogni[sz]e|make|made|authori[sz]e|place|order)\b|"
    r"\b(?:I|we)\s+(?:did not|didn't|never)\s+(?:make|authori[sz]e|place|order)\s+"
    r"(?:this|these|that|those|any|the)\s+(?:charges?|purchases?|orders?|payments?|"
    r"transactions?)\b|"
    r"\b(?:unauthori[sz]ed|fraudulent|suspicious|unrecogni[sz]ed|strange|unknown|unfamiliar)"
    r"\s+(?:\w+\s+)?"
    r"(?:charges?|transactions?|payments?|purchases?|access|log-?ins?|sign-?ins?|activity|"
    r"orders?|withdrawals?)\b|"
    r"\b(?:identity theft|data breach|stolen (?:card|credit card|identity|password|credentials))\b|"
    r"\b(?:card|wallet|phone|laptop|password|identity|credentials|details)\s+(?:was|were|has been|"
    r"have been|got|had been)\s+stolen\b",
    _I,
)

DATA_LOSS_CUES: Final = re.compile(
    rf"\b{_LOST}\s+(?:out\s+)?(?:all\s+(?:of\s+)?|every\s+|half\s+(?:of\s+)?)?"
    rf"(?:my|our|the|all|years of|months of|weeks of)\s+(?:\w+\s+){{0,4}}?{_DATA}\b"
    rf"{_NOT_DATA_HEAD}|"
    rf"\b{_DATA}{_NOT_DATA_HEAD}\s+(?:[\w']+\s+){{0,4}}?"
    r"(?:(?:is|are|was|were|has|have|got|been|just|now)\s+)+"
    rf"(?:all\s+|completely\s+|just\s+)?(?:gone|lost|wiped|erased|deleted|vanished|"
    # "missing a label" lacks something; "missing" alone is gone.
    rf"disappeared|corrupted|overwritten|destroyed|missing(?!\s+(?:a|an|the|some|any)\b))\b|"
    rf"\b{_DATA}{_NOT_DATA_HEAD}\s+(?:\w+\s+){{0,3}}?(?:vanished|disappeared)\b|"
    r"\b(?:data loss|lost data|lost (?:all )?(?:my|our) work)\b",
    _I,
)
# "I deleted it by mistake, can I get it back?" is a how-to the knowledge base answers.
_SELF_INFLICTED = re.compile(
    r"\b(?:I|we)(?:'ve| have)?\s+(?:\w+\s+)?(?:deleted|removed|erased|archived|overwrote)\b|"
    r"\bby (?:mistake|accident)\b|\baccidentally\b|\bmistakenly\b",
    _I,
)

# Leaving, said so that it is already decided: a hand-over on its own.
CHURN_CUES: Final = re.compile(
    r"\b(?:tak(?:e|ing)|mov(?:e|ing)) (?:my|our) (?:business|money|custom)\b|"
    r"\bswitch(?:ing)? to (?:a |an |your )?(?:competitor|another (?:provider|company|service|"
    r"app|bank|carrier|airline|store|supplier))|"
    r"\bnever (?:using|use|buying|buy|ordering|order|flying|fly|shopping|shop|booking|book|"
    r"coming back|dealing with)\b[^.!?]{0,30}\bagain\b|"
    r"\b(?:you(?:'ve| have)?|you just) lost (?:a|another|me as a|my|our|a loyal) "
    r"(?:customer|client|business)|"
    r"\b(?:I'?m|I am|we'?re|we are) (?:done|finished|through) with (?:you|your|this)\b|"
    r"\b(?:I'?m|I am|we'?re|we are) (?:leaving|quitting)(?: you| now| for good| today)?\s*"
    r"(?:[.!\u2026]|$)|"
    r"\b(?:I'?ll|I will|we'?ll|we will) (?:be )?(?:leaving|switching|cancel+ing)\b|"
    r"\bcancel+(?:ing|ed)? (?:my|our|the) \w*\s*(?:subscription|account|membership|plan|"
    r"contract|service)s?\b[^.!?]{0,25}\b(?:for good|today|right now|immediately)\b|"
    r"\b(?:won't|will not|not going to|don't plan to) renew\b|\bnot renewing\b|"
    r"\b(?:thinking (?:about|of)|considering) (?:leaving|switching|cancel+ing|moving)\b|"
    r"\b(?:leav(?:e|ing)|switch(?:ing)?|mov(?:e|ing)) (?:you )?(?:to|for) (?:a |an )?"
    r"(?:competitor|another (?:app|provider|company|service|bank|carrier|airline|store|tool)|"
    r"a different (?:app|provider|company|service|bank|carrier|airline|store|tool))\b",
    _I,
)
# Leaving, said calmly ("how do I cancel my account?"): a question for the knowledge base
# unless anger comes with it.
_LEAVING = re.compile(
    r"\bcancel+(?:ing|ed)?\b[^.!?]{0,30}\b(?:subscription|account|membership|plan|contract|"
    r"service)\b|\bclos(?:e|ing) (?:my|our) account\b|\bswitch(?:ing)? (?:to|provider)",
    _I,
)

# Anger and exasperation in words a customer uses at any company. Profanity alone is left out:
# people swear at a stuck checkout while asking a plain question.
ANGER_CUES: Final = re.compile(
    r"\b(?:had enough|fed up|sick (?:and tired )?of|furious|livid|outraged|outrageous|"
    r"ridiculous|unacceptable|disgrace(?:ful)?|pathetic|shameful|scandalous|appalling|"
    r"abysmal|atrocious|shocking|a joke|joke of a|last straw|enough is enough|"
    r"worst|terrible|horrible|awful|useless|incompetent|rip-?off|scam)\b|"
    r"\b(?:(?:second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th)|umpteenth|several|many) "
    r"(?:time|email|message|call|request|ticket)s?)\b|"
    r"\b(?:again and again|over and over|yet again|every single time|still (?:no|not|nothing|"
    r"waiting|broken|haven't|hasn't))\b|!!|\?!",
    _I,
)

COMPLAINT_CUES: Final = re.compile(
    # Saying so: a complaint is a complaint however calmly it is made.
    r"\b(?:file|filing|lodge|lodging|make|making|submit|submitting|raise|raising|register|"
    r"registering|put in|open|opening)\s+(?:a |an )?(?:formal |official |consumer |customer )?"
    r"(?:\w+\s+)?(?:complaint|grievance|(?:consumer|customer) claim)s?\b|"
    r"\bcomplain(?:t|ts|ing)?\s+(?:about|against|regarding|over)\b|"
    r"\b(?:I|we)(?:'d| would)?\s+(?:like|want|need|wish) to complain\b|"
    r"\b(?:formal|official) complaint\b|"
    r"\bclaim against (?:you\b|(?:\w+\s+){0,2}?(?:company|organi[sz]ation|business|firm))|"
    # How the staff treated them.
    r"\b(?:hung up on|yelled at|shouted at|laughed at|lied to|ignored|insulted)\s+me\b|"
    r"\b(?:staff|agent|employee|rep|representative|operator|driver|courier|support|team|"
    r"technician|manager|assistant|person|guy|woman|man|lady|crew)s?\b[^.!?]{0,30}\b"
    r"(?:rude|unprofessional|incompetent|unhelpful|arrogant|condescending|disrespectful|"
    r"dismissive|hostile|clueless|patroni[sz]ing|abusive|useless)\b|"
    r"\b(?:rude|unprofessional|incompetent|unhelpful|arrogant|condescending|disrespectful|"
    r"dismissive|hostile|clueless|patroni[sz]ing|abusive)\s+(?:\w+\s+)?(?:staff|agent|employee|"
    r"rep|representative|operator|driver|courier|support|team|technician|manager|service|"
    r"person|people)\b|"
    # What the service was like, or that nobody answers.
    r"\b(?:worst|terrible|horrible|awful|appalling|abysmal|atrocious|pathetic|disgraceful|"
    r"shocking|dreadful|lousy|poor|bad|unacceptable)\s+(?:customer\s+)?(?:service|support|"
    r"experience|company|communication|treatment|care)\b|"
    r"\b(?:nobody|no one|no-one|noone)\s+(?:\w+\s+){0,4}?(?:answers|answered|responds|"
    r"responded|replies|replied|helps|helped|cares|called|calls|got back|gets back|bothered)\b|"
    # Having to chase: written several times, still no reply.
    r"\bstill (?:no|not a|not one|haven't (?:had|got|heard|received) a?)\s*(?:reply|answer|"
    r"response|word|update|call|callback)\b|"
    r"\b(?:written|wrote|emailed|called|contacted|messaged|asked)\s+(?:you\s+)?(?:\w+\s+)?"
    r"(?:(?:\w+|\d+) times|twice)\b",
    _I,
)

# Asking for help: the mark of a problem report, even a heated one.
_ASKS_FOR_HELP = re.compile(
    r"\?|\b(?:how (?:do|can|should|to)|what (?:should|can|do) (?:I|we)|can you (?:help|tell|"
    r"check|fix)|could you|please (?:help|advise|tell|check)|help me|is there a way|"
    r"(?:I'?m|I am|I) trying to|I try to|(?:I|we) (?:want|need|would like|'d like) to|"
    r"where (?:can|do|is)|^\s*(?:is|are|can|could|do|does|should|will|would)\s|"
    r"^\s*(?:how|what|where|when|which)\s+(?:is|are|do|does|did|can|could|should|will|would|"
    r"to|happens)\b|"
    r"(?:don't|do not) know (?:how|what|where))\b",
    _I,
)

# Describing a fault: the mark of a problem report, even an exasperated one ("not syncing
# and I'm fed up!"): the knowledge base may fix it, and fixing it is what the customer wants.
_DESCRIBES_A_FAULT = re.compile(
    r"\b(?:not|isn't|aren't|doesn't|don't|won't|can't|cannot|couldn't|unable to|stopped|"
    r"keeps?|fails?|failed|failing)\s+(?:\w+\s+)?(?:work|working|sync|syncing|load|loading|"
    r"open|opening|start|starting|upload|uploading|download|downloading|connect|connecting|"
    r"log|logging|sign|signing|access|find|see|send|sending|receive|save|saving|update|"
    r"updating|crash|crashing|freez\w*|print|printing|pay|install|installing)\b|"
    r"\b(?:error|crash(?:es|ed|ing)?|bug|broken|frozen|stuck|glitch\w*)\b|"
    # Something of theirs turned away: a code, a card, a password.
    r"\b(?:reject(?:s|ed|ing)?|declin(?:es|ed|ing)|denied|invalid|not accepted)\b|"
    # Something that has not come yet: tracking it is the knowledge base's job.
    r"\b(?:waiting (?:for|on)|(?:haven't|have not|hasn't|has not|didn't|did not|never) "
    r"(?:received|got|get|receive|arrived|arrive|come|came)|not (?:arrived|received))\b",
    _I,
)

SECURITY_NOTE = (
    "Thank you for telling us. I have passed this to a member of our support team as a "
    "security matter; they will reply to you here as soon as they can. If you can still sign "
    "in, please change your password now."
)
DATA_LOSS_NOTE = (
    "I'm very sorry: losing your data is serious. I have passed your message to a member of "
    "our support team, who will look into it and reply to you here as soon as they can."
)
APOLOGY_NOTE = (
    "I'm sorry about your experience. I have passed your message to a member of our support "
    "team, who will reply to you here as soon as they can."
)
_NOTES: Final = {
    escalation.SECURITY: SECURITY_NOTE,
    escalation.DATA_LOSS: DATA_LOSS_NOTE,
    escalation.CHURN_RISK: APOLOGY_NOTE,
    escalation.COMPLAINT: APOLOGY_NOTE,
    escalation.NEGATIVE: APOLOGY_NOTE,
}


def _reported(pattern: re.Pattern[str], text: str) -> bool:
    """The cue occurs in a sentence that reports rather than wonders."""
    return any(
        pattern.search(sentence) and not _HYPOTHETICAL.search(sentence)
        for sentence in _SENTENCE.findall(text)
    )


def handover_reason(text: str, sentiment: SentimentResult | None, threshold: float) -> str | None:
    """The reason a person must take this message, or None: security, data loss, churn risk,
    complaint, in that order (the first is the most urgent to act on). `threshold` is
    FTE_NEGATIVE_SENTIMENT_THRESHOLD: a message at or below it that neither asks for help nor
    describes a fault is a complaint."""
    if _reported(SECURITY_CUES, text):
        return escalation.SECURITY
    if _reported(DATA_LOSS_CUES, text) and not _SELF_INFLICTED.search(text):
        return escalation.DATA_LOSS
    score = sentiment.score if sentiment is not None else 0.0
    angry = bool(ANGER_CUES.search(text)) or score <= threshold
    if _reported(CHURN_CUES, text) or (angry and _LEAVING.search(text)):
        return escalation.CHURN_RISK
    if COMPLAINT_CUES.search(text):
        return escalation.COMPLAINT
    if (
        score <= threshold
        and not _ASKS_FOR_HELP.search(text)
        and not _DESCRIBES_A_FAULT.search(text)
    ):
        return escalation.COMPLAINT
    return None


def holding_note(reason: str) -> str:
    """What the customer is told while a person takes over: an apology where one is owed."""
    return _NOTES.get(reason, local.ESCALATION_NOTE)
