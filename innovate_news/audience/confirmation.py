"""The email that asks a new subscriber to confirm (double opt-in).

It says nothing the person signing up typed except the address itself: the name field of a
public form is where spammers put their text, and this email goes to whoever they name.
"""

from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from innovate_news.audience.signups import LIFETIME, Signup
from innovate_news.mail import Message
from innovate_news.settings import Settings

SUBJECT = "Please confirm your subscription to {title}"
BODY = """\
Hello,

Someone, hopefully you, asked for {title} updates to be sent to {address}.
To confirm, open this link within {days} days:

{link}

By confirming you agree to this (consent text {version}):
"{consent}"

If it was not you, ignore this email: nobody is added, and we will not write again.
You can unsubscribe at any time with the link at the foot of every email.

{sender}
"""


def message(settings: Settings, signup: Signup, link: str, now: dt.datetime) -> Message:
    """The confirmation email for `signup`, its link leading to `link`."""
    email = settings.email
    title = settings.site["title"]
    domain = email["message_id_domain"] or parseaddr(email["from"])[1].rpartition("@")[2]
    out = EmailMessage(policy=policy.SMTP)
    out["From"] = email["from"]
    out["To"] = signup.address
    if email["reply_to"]:
        out["Reply-To"] = email["reply_to"]
    out["Subject"] = SUBJECT.format(title=title)
    out["Date"] = format_datetime(now.astimezone(dt.UTC))
    message_id = make_msgid("confirm", domain=domain)
    out["Message-ID"] = message_id
    out["Auto-Submitted"] = "auto-generated"  # no vacation replies to a form's robot
    out.set_content(
        BODY.format(
            title=title,
            address=signup.address,
            days=LIFETIME.days,
            link=link,
            version=signup.consent_version,
            consent=signup.consent_text,
            sender=parseaddr(email["from"])[0] or title,
        )
    )
    return Message(signup.address, message_id, out.as_bytes(), {"address": signup.address})
