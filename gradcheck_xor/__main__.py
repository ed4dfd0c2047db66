"""``python -m gradcheck_xor`` runs the ``gradcheck-xor`` command."""

import sys

from gradcheck_xor.cli import main

sys.exit(main())
