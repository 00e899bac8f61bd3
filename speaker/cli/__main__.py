"""`python3 -m speaker.cli`: the same as `speakerctl`."""

import sys

from speaker.cli import main

sys.exit(main())
