"""`python -m unify.cli VERB ...`: the `unify` command, for launchers that run modules (`torchrun -m unify.cli`)."""

import sys

from unify.cli import main

sys.exit(main())
