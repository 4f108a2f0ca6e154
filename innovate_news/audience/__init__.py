"""The people: the subscriber list and its file (its table on PostgreSQL), who may be sent
mail (eligibility), signed links, sign-ups and consent, imports, privacy (subject access,
erasure) and the list service.

Public names: subscribers.read, subscribers.Subscriber, eligibility.Suppressions,
eligibility.excluded, tokens.keyring, lifecycle.ListService, privacy.erase.
"""

__all__ = [
    "confirmation",
    "eligibility",
    "imports",
    "lifecycle",
    "listfile",
    "listtable",
    "privacy",
    "roster",
    "signups",
    "subscribers",
    "tokens",
]
