"""``python -m workflows``: write the Argo manifests into the chart."""

import sys

from workflows.generate import main

sys.exit(main())
