"""Validation of Eurostat data before it is staged: pandera schemas for slices (``validate.eurostat``) and the
Eurostat flag grammar (``validate.flags``). ESS respondents are checked next to the ESS code (``ess.validate``).

Each module raises ``multilevel.errors.ValidationFailed`` naming the dataset, the rule, the failing rows and
the fix.
"""
