"""Validation of data before it is staged: pandera schemas for Eurostat slices (``validate.eurostat``), the
Eurostat flag grammar (``validate.flags``) and ESS respondents.

Each module raises ``multilevel.errors.ValidationFailed`` naming the dataset, the rule, the failing rows and
the fix.
"""
