"""Getting an issue to each subscriber exactly once: the plan of a send, the sequence that runs it
(campaign), the sender that hands copies to a provider and records each hand-over, DKIM, what
an SMTP server's refusal asks of the run (replies), and the providers themselves; and the
deliverability pre-flight (deliverability, with domain, spf, spfcheck, dmarc and resolver,
the only user of dnspython).

Public names: campaign.deliver, campaign.dry_run, plan.plan, plan.Plan, plan.Options,
sender.SendSummary, providers.create, providers.mailer, providers.NAMES.
"""

__all__ = [
    "campaign", "deliverability", "dkim", "dmarc", "domain", "plan", "providers", "replies",
    "resolver", "sender", "spf", "spfcheck", "versions",
]  # fmt: skip
