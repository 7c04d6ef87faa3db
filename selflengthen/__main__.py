import sys

from selflengthen.cli import main

sys.exit(main())
