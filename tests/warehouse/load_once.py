"""Load one staged run in a separate process (the concurrency and SIGKILL tests start this script).

    python load_once.py WAREHOUSE_URL STAGE_URL MANIFEST_KEY [--redshift-on-postgres] [--pause-after SQL_FILE]

Prints the load status as the last line. With ``--pause-after``, prints ``PAUSED`` once that SQL file of the merge
has run (inside the load's transaction) and sleeps, so the test can kill the process mid-load.
``--redshift-on-postgres``: a redshift:// URL that reaches PostgreSQL (see loadkit.redshift_on_postgres).
"""

from __future__ import annotations

import json
import sys
import time

import loadkit
import pytest

from multilevel.settings import Settings
from multilevel.stage import open_store
from multilevel.warehouse import connect
from multilevel.warehouse.history import load_run


def main(argv: list[str]) -> None:
    warehouse_url, stage_url, manifest_key = argv[:3]
    pause_after = argv[argv.index("--pause-after") + 1] if "--pause-after" in argv else None
    if "--redshift-on-postgres" in argv:
        loadkit.redshift_on_postgres(pytest.MonkeyPatch())
    store = open_store(stage_url)
    manifest = json.loads(store.read_bytes(manifest_key))
    # Redshift's COPY needs the IAM role from the environment (MULTILEVEL_REDSHIFT_IAM_ROLE); the others need nothing.
    with connect(warehouse_url, Settings(_env_file=None)) as wh:
        if pause_after:
            run_sql_file = wh.run_sql_file

            def pausing(relpath, *args, **kwargs):
                changed = run_sql_file(relpath, *args, **kwargs)
                if relpath.endswith(pause_after):
                    print("PAUSED", flush=True)
                    time.sleep(120)
                return changed

            wh.run_sql_file = pausing
        result = load_run(wh, store, manifest, loadkit.LABELS)
    print(result.status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
