"""Make data/ess9_synthetic.dta: a synthetic file with the structure of ESS Round 9 edition 3.0 (ESS9e03.dta).

Never real ESS rows (their licence forbids re-hosting): every value comes from a seeded random generator. What is
real is the *shape*, taken from the ESS9 e03 codebook: Stata 12 (format 115), 572 columns,
the storage types (byte/int/long/double/str), display formats, variable labels, value labels, extended missing
values .a Not applicable, .b Refusal, .c Don't know, .d No answer, latin-1 strings, regions as NUTS 2016 codes at
the level ``regunit`` gives per country, and weights built the way ESS builds them (anweight = pspwght x pweight).

pyreadstat can only write int32 and double columns, so this script writes the .dta format itself (it is a short,
documented binary layout). The time stamp in the header is fixed, so the same seed gives the same bytes.

Usage: python data/make_synthetic_ess.py [--round 9|11] [--out data/ess9_synthetic.dta] [--rows 3000] [--seed 9]

``--round 11`` writes data/ess11_synthetic.dta: 1000 respondents, 160 columns, regions in NUTS 2021 codes.
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "ess9_synthetic.dta"
TOTAL_COLUMNS = 572  # as in the real ESS9e03.dta
TIMESTAMP = b"20 Apr 2021 10:00"  # fixed: a header time stamp would otherwise change the bytes on every run
DATA_LABEL = b"Synthetic data with the structure of ESS9e03 (NOT real ESS data)"

# Stata storage types in format 115, and the codes of missing values: '.', then .a, .b, ... in steps.
TYPE_CODE = {"int8": 251, "int16": 252, "int32": 253, "double": 255}
PACK = {"int8": "<b", "int16": "<h", "int32": "<i", "double": "<d"}
MISSING_BASE = {"int8": 101, "int16": 32741, "int32": 2147483621}
DOUBLE_MISSING_BASE = 0x7FE0000000000000
DOUBLE_MISSING_STEP = 0x0000010000000000
LABEL_MISSING_BASE = 2147483621  # value labels store extended missing values as long codes
MISSING_LABELS = {"a": "Not applicable", "b": "Refusal", "c": "Don't know", "d": "No answer"}

# Countries, their NUTS level in ESS9 (regunit), NUTS 2016 regions, respondents, interview years and population
# size weight. The mix is chosen to exercise the join: unchanged regions (AT, DE), UK codes under cntry GB, regions
# recoded, split or with boundary changes between NUTS 2013 and 2016 (FR, IE, PL, LT, HU) or 2016 and 2021 (NO).
COUNTRIES = [
    ("AT", 2, "AT11 AT12 AT13 AT21 AT22 AT31 AT32 AT33 AT34", 330, (2018, 2019), 0.37),
    ("DE", 1, "DE1 DE2 DE3 DE4 DE5 DE6 DE7 DE8 DE9 DEA DEB DEC DED DEE DEF DEG", 480, (2018, 2019), 2.1),
    ("GB", 1, "UKC UKD UKE UKF UKG UKH UKI UKJ UKK UKL UKM UKN", 380, (2018, 2019), 2.6),
    ("NO", 2, "NO01 NO02 NO03 NO04 NO05 NO06 NO07", 290, (2018, 2019), 0.31),
    ("IE", 3, "IE041 IE042 IE051 IE052 IE053 IE061 IE062 IE063", 300, (2018, 2019), 0.29),
    ("FR", 1, "FR1 FRB FRC FRD FRE FRF FRG FRH FRI FRJ FRK FRL FRM", 340, (2018, 2019), 2.5),
    ("PL", 2, "PL21 PL22 PL41 PL42 PL43 PL51 PL52 PL61 PL62 PL63 PL71 PL72 PL81 PL82 PL84 PL91 PL92", 340,
     (2018, 2019), 2.1),
    ("LT", 3, "LT011 LT021 LT022 LT023 LT024 LT025 LT026 LT027 LT028 LT029", 200, (2019,), 0.2),
    ("HU", 2, "HU11 HU12 HU21 HU22 HU23 HU31 HU32 HU33", 240, (2019,), 0.5),
]
# Fieldwork (first and last month) where it is known from the ESS9 documentation (Norway: October 2018 to May 2019);
# other countries: September of their first interview year to April of the next, or March to October of a one-year
# fieldwork.
FIELDWORK = {"NO": ((2018, 10), (2019, 5))}  # round 9; other rounds use the default windows below


def _interview_month(rng, code: str, years: tuple[int, ...]) -> tuple[int, int]:
    if code in FIELDWORK and FIELDWORK[code][0][0] in years:
        (y0, m0), (y1, m1) = FIELDWORK[code]
    elif len(years) > 1:
        (y0, m0), (y1, m1) = (years[0], 9), (years[-1], 4)
    else:
        (y0, m0), (y1, m1) = (years[0], 3), (years[0], 10)
    k = int(rng.integers(0, (y1 - y0) * 12 + m1 - m0 + 1))
    return y0 + (m0 - 1 + k) // 12, (m0 - 1 + k) % 12 + 1


UNKNOWN_REGIONS = {"AT": "AT99", "PL": "PL9Z"}  # a few respondents with codes that are not NUTS 2016 codes

# A second, smaller round whose regions are NUTS 2021 codes (ESS11, fieldwork 2023-2024): Norway's 2020 counties at
# NUTS 3 (NO082 Viken and NO074 Troms og Finnmark were split again in 2024) and Croatia's 2021 regions (HR02, HR05,
# HR06 replaced HR04), which Eurostat now publishes in NUTS 2024 codes: their context needs the NUTS 2021 <-> 2024
# pieces, and none of these codes exists in NUTS 2016.
COUNTRIES_11 = [
    ("AT", 2, "AT11 AT12 AT13 AT21 AT22 AT31 AT32 AT33 AT34", 300, (2023, 2024), 0.37),
    ("NO", 3, "NO020 NO060 NO071 NO074 NO081 NO082 NO091 NO092 NO0A1 NO0A2 NO0A3", 300, (2023, 2024), 0.31),
    ("HR", 2, "HR02 HR03 HR05 HR06", 200, (2023, 2024), 0.2),
    ("IE", 3, "IE041 IE042 IE051 IE052 IE053 IE061 IE062 IE063", 200, (2023, 2024), 0.29),
]
# essround -> (countries, dataset name, edition, production date, columns in the file)
ROUNDS = {
    9: (COUNTRIES, "ESS9e03", "3.0", "17.02.2021", TOTAL_COLUMNS),
    11: (COUNTRIES_11, "ESS11e02", "2.0", "20.11.2024", 160),
}

SCALE_0_10 = {str(i): str(i) for i in range(11)}


def _scale(low: str, high: str) -> dict[str, str]:
    return {**SCALE_0_10, "0": low, "10": high}


TRUST = _scale("No trust at all", "Complete trust")
BRC = ["b", "c", "d"]

# name -> (storage, format, label, value labels, allowed missing letters, valid range)
ANSWERS = {
    "nwspol": ("int16", "%12.0g", "News about politics and current affairs, watching, reading or listening, in min",
               {}, BRC, (0, 1200)),
    "netusoft": ("int8", "%18.0g", "Internet use, how often",
                 {"1": "Never", "2": "Only occasionally", "3": "A few times a week", "4": "Most days",
                  "5": "Every day"}, BRC, (1, 5)),
    "netustm": ("int16", "%14.0g", "Internet use, how much time on typical day, in minutes", {},
                ["a", "b", "c", "d"], (0, 1440)),
    "ppltrst": ("int8", "%26.0g", "Most people can be trusted or you can't be too careful",
                _scale("You can't be too careful", "Most people can be trusted"), BRC, (0, 10)),
    "pplfair": ("int8", "%39.0g", "Most people try to take advantage of you, or try to be fair",
                _scale("Most people try to take advantage of me", "Most people try to be fair"), BRC, (0, 10)),
    "pplhlp": ("int8", "%37.0g", "Most of the time people helpful or mostly looking out for themselves",
               _scale("People mostly look out for themselves", "People mostly try to be helpful"), BRC, (0, 10)),
    "polintr": ("int8", "%21.0g", "How interested in politics",
                {"1": "Very interested", "2": "Quite interested", "3": "Hardly interested",
                 "4": "Not at all interested"}, BRC, (1, 4)),
    "psppsgva": ("int8", "%12.0g", "Political system allows people to have a say in what government does",
                 {"1": "Not at all", "2": "Very little", "3": "Some", "4": "A lot", "5": "A great deal"}, BRC, (1, 5)),
    "actrolga": ("int8", "%15.0g", "Able to take active role in political group",
                 {"1": "Not at all able", "2": "A little able", "3": "Quite able", "4": "Very able",
                  "5": "Completely able"}, BRC, (1, 5)),
    "psppipla": ("int8", "%12.0g", "Political system allows people to have influence on politics",
                 {"1": "Not at all", "2": "Very little", "3": "Some", "4": "A lot", "5": "A great deal"}, BRC, (1, 5)),
    "cptppola": ("int8", "%20.0g", "Confident in own ability to participate in politics",
                 {"1": "Not at all confident", "2": "A little confident", "3": "Quite confident",
                  "4": "Very confident", "5": "Completely confident"}, BRC, (1, 5)),
    "trstprl": ("int8", "%15.0g", "Trust in country's parliament", TRUST, BRC, (0, 10)),
    "trstlgl": ("int8", "%15.0g", "Trust in the legal system", TRUST, BRC, (0, 10)),
    "trstplc": ("int8", "%15.0g", "Trust in the police", TRUST, BRC, (0, 10)),
    "trstplt": ("int8", "%15.0g", "Trust in politicians", TRUST, BRC, (0, 10)),
    "trstprt": ("int8", "%15.0g", "Trust in political parties", TRUST, BRC, (0, 10)),
    "trstep": ("int8", "%15.0g", "Trust in the European Parliament", TRUST, BRC, (0, 10)),
    "trstun": ("int8", "%15.0g", "Trust in the United Nations", TRUST, BRC, (0, 10)),
}

# Real ESS9 files also hold bytes that Windows-1252 (readstat's default for old .dta) cannot convert, which is why
# reading them without encoding="latin1" fails; the C1 byte 0x81 in one label reproduces that.
LATIN1_LABELS = ["Österreichische Volkspartei", "Sí, bastante", "Ja, überwiegend", "Très satisfait", "Niño\x81"]


class Column:
    """One Stata variable: name, storage ('int8'... or 'strN'), format, label, value-label table, cells."""

    def __init__(self, name, storage, fmt, label, values, value_labels=None):
        self.name, self.storage, self.fmt, self.label = name, storage, fmt, label
        self.values = values  # list: numbers, None (.), letters 'a'..'z' (extended missing), or str
        self.value_labels = value_labels or {}  # {"1": "...", ".b": "..."}


def _fixed(text: str | bytes, width: int) -> bytes:
    data = text if isinstance(text, bytes) else text.encode("latin-1")
    if len(data) >= width:
        data = data[: width - 1]
    return data + b"\0" * (width - len(data))


def _cell(col: Column, value) -> bytes:
    if col.storage.startswith("str"):
        return _str_cell(value, col)
    if isinstance(value, str):  # extended missing value
        step = ord(value) - ord("a") + 1
        if col.storage == "double":
            return struct.pack("<Q", DOUBLE_MISSING_BASE + step * DOUBLE_MISSING_STEP)
        return struct.pack(PACK[col.storage], MISSING_BASE[col.storage] + step)
    if value is None:
        if col.storage == "double":
            return struct.pack("<Q", DOUBLE_MISSING_BASE)
        return struct.pack(PACK[col.storage], MISSING_BASE[col.storage])
    return struct.pack(PACK[col.storage], value)


def _str_cell(value, col: Column) -> bytes:
    width = int(col.storage[3:])
    data = (value or "").encode("latin-1")[:width]
    return data + b"\0" * (width - len(data))


def _label_table(name: str, labels: dict[str, str]) -> bytes:
    keys, texts = [], b""
    offsets = []
    for key, text in labels.items():
        code = LABEL_MISSING_BASE + ord(key[1]) - ord("a") + 1 if key.startswith(".") else int(key)
        keys.append(code)
        offsets.append(len(texts))
        texts += text.encode("latin-1") + b"\0"
    n = len(keys)
    table = struct.pack("<ii", n, len(texts))
    table += struct.pack(f"<{n}i", *offsets) + struct.pack(f"<{n}i", *keys) + texts
    return struct.pack("<i", len(table)) + _fixed(name, 33) + b"\0\0\0" + table


def write_dta(path: Path, columns: list[Column], nobs: int, label: bytes = DATA_LABEL) -> None:
    """Write a Stata 12 (format 115, little-endian) file."""
    header = struct.pack("<BBBBhi", 115, 2, 1, 0, len(columns), nobs)
    header += _fixed(label, 81) + _fixed(TIMESTAMP, 18)
    typlist = bytes(
        int(c.storage[3:]) if c.storage.startswith("str") else TYPE_CODE[c.storage] for c in columns
    )
    varlist = b"".join(_fixed(c.name, 33) for c in columns)
    srtlist = b"\0\0" * (len(columns) + 1)
    fmtlist = b"".join(_fixed(c.fmt, 49) for c in columns)
    lbllist = b"".join(_fixed(c.name if c.value_labels else "", 33) for c in columns)
    varlabels = b"".join(_fixed(c.label, 81) for c in columns)
    expansion = b"\0" + struct.pack("<i", 0)
    with open(path, "wb") as f:
        f.write(header + typlist + varlist + srtlist + fmtlist + lbllist + varlabels + expansion)
        for row in range(nobs):
            f.write(b"".join(_cell(c, c.values[row]) for c in columns))
        for c in columns:
            if c.value_labels:
                f.write(_label_table(c.name, c.value_labels))


def _answer_values(rng, n, storage, allowed, valid, missing_rate=0.04):
    low, high = valid
    if high > 100:  # minutes: skewed
        values = np.minimum(rng.gamma(1.3, 60 if high < 1300 else 150, n).round().astype(int), high)
    else:
        centre = rng.uniform(low + (high - low) * 0.3, low + (high - low) * 0.7)
        values = np.clip(rng.normal(centre, (high - low) / 4, n).round().astype(int), low, high)
    out: list = [int(v) for v in values]
    missing = rng.random(n) < missing_rate
    letters = rng.choice(allowed, n)
    for i in np.flatnonzero(missing):
        out[i] = str(letters[i])
    return out


def build_columns(rows: int, seed: int, essround: int = 9) -> tuple[list[Column], int]:
    """All 572 columns with ``rows`` respondents spread over the countries (scaled), deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    countries, title, edition, proddate, total_columns = ROUNDS[essround]
    total_planned = sum(c[3] for c in countries)
    cntry, region, regunit, inwyys, idno, pweight, stratum, psu = [], [], [], [], [], [], [], []
    inwmms, inwdds = [], []
    for k, (code, level, regions, planned, years, pw) in enumerate(countries):
        n = max(20, round(planned * rows / total_planned))
        regs = regions.split()
        # Unequal region sizes, like real samples (capital regions larger).
        p = rng.dirichlet(np.ones(len(regs)) * 3)
        chosen = rng.choice(regs, n, p=p).tolist()
        if code in UNKNOWN_REGIONS:
            for i in rng.choice(n, 4, replace=False):
                chosen[i] = UNKNOWN_REGIONS[code]
        ids = np.sort(rng.choice(np.arange(1, 99999), n, replace=False))
        for i in range(n):
            cntry.append(code)
            region.append(chosen[i])
            regunit.append(level)
            year, month = _interview_month(rng, code, years)
            inwyys.append(year)
            inwmms.append(month)
            inwdds.append(int(rng.integers(1, 29)))
            idno.append(int(ids[i]))
            pweight.append(pw)
            stratum.append(2500 + 60 * k + int(rng.integers(0, 40)))
            psu.append(19000 + 500 * k + int(rng.integers(0, 400)))
    n = len(cntry)
    # A few interview years missing (.d No answer), as in real files.
    for i in rng.choice(n, 3, replace=False):
        inwyys[i] = inwmms[i] = inwdds[i] = "d"

    dweight = rng.uniform(0.5, 2.0, n)
    pspwght = dweight * rng.uniform(0.6, 1.6, n)
    pweight_arr = np.array(pweight)
    anweight = pspwght * pweight_arr
    prob = 1.0 / (dweight * 1300.0)

    answers = {}
    for name, (storage, _fmt, _label, _labels, allowed, valid) in ANSWERS.items():
        answers[name] = _answer_values(rng, n, storage, allowed, valid)
    # Not applicable: people who never use the internet are not asked how long they use it.
    for i, often in enumerate(answers["netusoft"]):
        if often == 1:
            answers["netustm"][i] = "a"
    # Make sure every missing reason occurs in the headline variable, whatever the seed.
    for i, letter in zip(rng.choice(n, 3, replace=False), BRC, strict=True):
        answers["trstprl"][i] = letter

    def missing_labels(letters):
        return {f".{m}": MISSING_LABELS[m] for m in letters}

    cols = [
        Column("name", "str9", "%9s", "Title of dataset", [title] * n),
        Column("essround", "int8", "%12.0g", "ESS round", [essround] * n),
        Column("edition", "str9", "%9s", "Edition", [edition] * n),
        Column("proddate", "str10", "%10s", "Production date", [proddate] * n),
        Column("idno", "int32", "%12.0g", "Respondent's identification number", idno),
        Column("cntry", "str2", "%2s", "Country", cntry),
    ]
    for name, (storage, fmt, label, labels, allowed, _valid) in ANSWERS.items():
        cols.append(Column(name, storage, fmt, label, answers[name], {**labels, **missing_labels(allowed)}))

    needed_tail = [
        Column("inwdds", "int8", "%12.0g", "Start of interview, day of month", inwdds, missing_labels("d")),
        Column("inwmms", "int8", "%12.0g", "Start of interview, month", inwmms, missing_labels("d")),
        Column("inwyys", "int16", "%12.0g", "Start of interview, year", inwyys, missing_labels("d")),
        Column("region", "str5", "%5s", "Region", region),
        Column("regunit", "int8", "%12.0g", "Regional unit", regunit,
               {"1": "NUTS level 1", "2": "NUTS level 2", "3": "NUTS level 3",
                "4": "Regional unit not part of the NUTS nomenclature"}),
        Column("dweight", "double", "%12.0g", "Design weight", dweight.tolist()),
        Column("pspwght", "double", "%12.0g", "Post-stratification weight including design weight",
               pspwght.tolist()),
        Column("pweight", "double", "%12.0g", "Population size weight (must be combined with dweight or pspwght)",
               pweight_arr.tolist()),
        Column("anweight", "double", "%12.0g", "Analysis weight", anweight.tolist()),
        Column("psu", "int16", "%12.0g", "Primary sampling unit", psu),
        Column("stratum", "int16", "%12.0g", "Sampling stratum", stratum),
        Column("prob", "double", "%12.0g", "Sampling probability", prob.tolist()),
    ]
    fillers = []
    for j in range(total_columns - len(cols) - len(needed_tail)):
        name = f"syn{j + 1:03d}"
        kind = j % 20
        if kind < 16:  # most ESS items are labelled byte scales with .b-.d
            labels = {"1": LATIN1_LABELS[j % len(LATIN1_LABELS)], "2": "Nein", "3": "Weiß nicht genau",
                      "4": "Jamais"}
            values = _answer_values(rng, n, "int8", BRC, (1, 4), 0.03)
            fillers.append(Column(name, "int8", "%12.0g", f"Synthetic filler item {j + 1} (Fülltext)", values,
                                  {**labels, **missing_labels(BRC)}))
        elif kind < 18:
            values = _answer_values(rng, n, "int16", BRC, (0, 900), 0.02)
            fillers.append(Column(name, "int16", "%12.0g", f"Synthetic filler count {j + 1}", values,
                                  missing_labels(BRC)))
        elif kind < 19:
            fillers.append(Column(name, "double", "%12.0g", f"Synthetic filler measure {j + 1}",
                                  rng.normal(50, 10, n).round(3).tolist()))
        else:
            words = rng.choice(["Zürich", "Île-de-France", "Sør-Trøndelag", "Málaga", "Köln", "Graz"], n)
            values = words.tolist()
            fillers.append(Column(name, "str13", "%13s", f"Synthetic filler place name {j + 1}", values))
    # Real ESS files keep region/weights near the end: put the fillers in between.
    return cols + fillers[:500] + needed_tail + fillers[500:], n


def make(out: Path = DEFAULT_OUT, rows: int = 3000, seed: int = 9, essround: int = 9) -> Path:
    columns, n = build_columns(rows, seed, essround)
    assert len(columns) == ROUNDS[essround][4], len(columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    title = ROUNDS[essround][1]
    write_dta(tmp, columns, n, f"Synthetic data with the structure of {title} (NOT real ESS data)".encode())
    tmp.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round", dest="essround", type=int, choices=sorted(ROUNDS), default=9)
    parser.add_argument("--out", type=Path, help="default data/ess{round}_synthetic.dta")
    parser.add_argument("--rows", type=int, help="default 3000 (round 9), 1000 (round 11)")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    out = args.out or HERE / f"ess{args.essround}_synthetic.dta"
    rows = args.rows or (3000 if args.essround == 9 else 1000)
    path = make(out, rows, args.seed + (0 if args.essround == 9 else args.essround), args.essround)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
