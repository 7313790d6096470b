"""``python -m multilevel.standin``: run the Eurostat API stand-in in the foreground."""

from multilevel.standin.server import main

main()
