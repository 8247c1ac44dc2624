"""Message analysis: sentiment (five levels, per sentence), escalation risk with its
reasons, intent and language, for agents' badges and supervisors' dashboard."""
