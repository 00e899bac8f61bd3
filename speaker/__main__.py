"""`python3 -m speaker`: the process ExaBGP runs."""

import sys

from speaker.daemon import main

sys.exit(main())
