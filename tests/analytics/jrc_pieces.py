"""Norway's NUTS 2016 -> NUTS 2024 JRC pieces, copied by hand, for the hand-computed interpolations of the tests
(checked against the vendored CSV by test_regional_context.py::test_hand_copied_pieces_are_the_vendored_jrc_rows)."""

# Population of each NUTS 3 piece in 2021 (pop21) between Norway's NUTS 2016 and NUTS 2024 regions, copied by hand
# from the JRC matrix n3_cm_v2016_v2024.csv: (2016 region, 2024 region) -> people.
PIECES = {
    ("NO021", "NO020"): 197642.0, ("NO022", "NO020"): 172649.0, ("NO022", "NO084"): 15905.0,
    ("NO012", "NO084"): 639138.0, ("NO031", "NO083"): 300292.0, ("NO031", "NO084"): 658.0,
    ("NO032", "NO084"): 32620.0, ("NO032", "NO085"): 253660.0, ("NO033", "NO085"): 6408.0,
    ("NO033", "NO093"): 244798.0, ("NO034", "NO094"): 171799.0, ("NO053", "NO060"): 3503.0,
    ("NO061", "NO060"): 320518.0, ("NO062", "NO060"): 141930.0,
}
WHOLE = {"NO020": 197642.0 + 172649.0, "NO084": 639138.0 + 15905.0 + 658.0 + 32620.0, "NO083": 300292.0,
         "NO085": 253660.0 + 6408.0, "NO093": 244798.0, "NO094": 171799.0, "NO060": 320518.0 + 141930.0 + 3503.0}
# 2016 region -> its pieces, by hand: NO03 was split over five 2024 regions; NO02 (Hedmark + Oppland) merged into
# NO020 Innlandet, less Jevnaker and Lunner (15,905 people) that went to NO084; NO06 Trøndelag lies in NO060, which
# also took 3,503 people of Møre og Romsdal (a small boundary change).
CASES = {
    "NO03": {"NO083": 300292.0, "NO084": 658.0 + 32620.0, "NO085": 253660.0 + 6408.0, "NO093": 244798.0,
             "NO094": 171799.0},
    "NO02": {"NO020": 197642.0 + 172649.0, "NO084": 15905.0},
    "NO06": {"NO060": 320518.0 + 141930.0},
}
