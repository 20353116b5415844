"""``python -m django_seeclickfix.testing.emulator --port 8001 --seed demo``"""

import sys

from .cli import main

sys.exit(main())
