import sys

from python_udfs.client_files import main

sys.exit(main())
