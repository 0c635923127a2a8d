"""``python -m mangaassist.devtools.token CUSTOMER_ID``: a sign-in token for the local cluster.

Signed with the local cluster's development key (see ``cluster.LOCAL_AUTH_SECRET``), so it
only works against ``make up``; in AWS the store's sign-in service issues tokens.
"""

from __future__ import annotations

import sys

from mangaassist.devtools.cluster import LOCAL_AUTH_SECRET
from mangaassist.orchestrator.auth import issue_token

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m mangaassist.devtools.token CUSTOMER_ID   (demo customers: cust-0001..cust-0003)")
    print(issue_token(LOCAL_AUTH_SECRET, sys.argv[1]))
