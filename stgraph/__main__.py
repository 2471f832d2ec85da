import sys

from stgraph.cli.main import main

sys.exit(main())
