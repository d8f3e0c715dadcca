"""`python -m python_udfs.review`: write the campaign review page."""

import sys

from python_udfs.review import main

sys.exit(main())
