"""The bank-CRM path: extract users from the CRM API with dlt (mock fallback in demos), push tips back.

python -m python_udfs.crm extract   # GET /users/{id} for every id -> crm_raw in DuckDB
python -m python_udfs.crm push      # newest investment tip per client -> PUT /users/{id}
"""

import os

# dlt would otherwise send anonymous usage data: this project makes no network call it doesn't need.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Client data lives in the DuckDB file only, not also in copies under the dlt pipelines directory.
os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
# dlt logs every retried batch with a traceback; each command here reports in one line instead, and
# `crm_raw.missing_users` and `crm_push.tip_pushes` keep the details. Set RUNTIME__LOG_LEVEL to see dlt's.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")

from python_udfs.crm.api import CrmSettings, mock_allowed
from python_udfs.crm.push import PushSummary, push_tips
from python_udfs.crm.source import ExtractSummary, extract

__all__ = ["CrmSettings", "ExtractSummary", "PushSummary", "extract", "mock_allowed", "push_tips"]
