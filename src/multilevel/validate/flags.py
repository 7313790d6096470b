"""Eurostat observation flags as they appear in a JSON-stat ``status``.

Since 27 January 2025 Eurostat sends two code lists (see "Flags" on
ec.europa.eu/eurostat/web/main/data/database): OBS_STATUS letters and CONF_STATUS letters. JSON-stat folds
both into one ``status`` string: the observation letters first, then the confidentiality letter after a
``|`` (``"|C"`` is a confidential cell, usually without a value). A flag may combine several observation
letters (the OBS_FLAG code list holds codes such as ``bep``). ``:`` marks a value that is not available.

Accepted: ``:`` or one or more observation letters, optionally followed by ``|`` and one confidentiality
letter; ``|C`` alone; not the empty string. ``e|C`` (estimated and confidential) is accepted by the grammar;
the real JSON-stat sample holds only ``u``, so the combined form is accepted on the documented structure,
not observed.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

OBS_STATUS = {
    "b": "break in time series",
    "d": "definition differs (see metadata)",
    "e": "estimated",
    "f": "forecast",
    "i": "value imputed by Eurostat or other receiving agencies",
    "m": "missing value, data cannot exist",
    "n": "not significant",
    "p": "provisional",
    "u": "low reliability",
}
CONF_STATUS = {
    "C": "confidential",
    "N": "not for publication",
    "P": "information under non-statistical secrecy arrangements",
}
NOT_AVAILABLE = ":"
# Codes retired in January 2025 and what replaced them: a body that still carries them is stale or mis-coded.
RETIRED = {"s": "i", "z": "m", "c": "C"}

FLAG_PATTERN = rf"(?:{NOT_AVAILABLE}|[{''.join(OBS_STATUS)}]+)?(?:\|[{''.join(CONF_STATUS)}])?"

_FLAG = re.compile(FLAG_PATTERN)


def known_flags(flags: pd.Series) -> pd.Series:
    """True where a flag is missing or follows the accepted grammar; False for empty or unknown flags.

    Checked once per distinct flag (a slice has a handful), then mapped back to the rows with one array take.
    """
    codes, uniques = pd.factorize(flags, use_na_sentinel=True)
    ok = [isinstance(f, str) and f != "" and _FLAG.fullmatch(f) is not None for f in uniques]
    answers = np.array(ok + [True], dtype=bool)  # the last entry answers the missing flags (code -1)
    return pd.Series(answers[codes], index=flags.index)


def explain_flag(flag: str) -> str:
    """A short reason why ``flag`` is not accepted, naming retired codes and their replacements."""
    if flag == "":
        return "empty flag"
    retired = sorted({ch for ch in flag if ch in RETIRED})
    if retired:
        repl = ", ".join(f"{r}->{RETIRED[r]}" for r in retired)
        return f"{flag!r} uses codes retired in January 2025 ({repl})"
    unknown = sorted({ch for ch in flag if ch not in OBS_STATUS and ch not in CONF_STATUS and ch not in ":|"})
    if unknown:
        return f"{flag!r} has unknown letters {unknown}"
    return f"{flag!r} does not follow [:|letters][|C/N/P]"
