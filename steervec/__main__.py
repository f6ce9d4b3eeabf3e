import sys

from steervec.cli import main

sys.exit(main())
