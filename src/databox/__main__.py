import sys

from databox.cli import main

sys.exit(main())
