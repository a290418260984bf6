"""Drives burnrate through a client generated from its OpenAPI document by
openapi-python-client (tests/api/contract.rs generates it and runs this).

    python generated_client.py PACKAGE_DIR BASE_URL TOKEN SERVICE

PACKAGE_DIR holds the generated package `client`. Prints one JSON object:
every SLO id, paged through two at a time; the first one read by id with
its history; and the gate's decision for SERVICE. Every call must decode
into the generated types: an answer the document does not describe fails.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from client import AuthenticatedClient  # noqa: E402
from client.api.gate import gate  # noqa: E402
from client.api.slos import get_slo, get_slo_history, list_slos  # noqa: E402
from client.models import GateResult, History, SloList, SloStatus  # noqa: E402
from client.types import UNSET  # noqa: E402


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main():
    base_url, token, service = sys.argv[2], sys.argv[3], sys.argv[4]
    api = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    ids, pages, cursor, total = [], 0, UNSET, None
    while True:
        page = expect(list_slos.sync(client=api, limit=2, cursor=cursor), SloList, "list_slos")
        pages += 1
        total = page.total
        ids.extend(item.id for item in page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    first = expect(get_slo.sync(ids[0], client=api), SloStatus, "get_slo")
    history = expect(get_slo_history.sync(ids[0], client=api), History, "get_slo_history")
    decision = expect(gate.sync(client=api, service=[service], actor="generated-client"), GateResult, "gate")

    print(
        json.dumps(
            {
                "ids": ids,
                "pages": pages,
                "total": total,
                "first": {
                    "id": first.id,
                    "objective": first.objective,
                    "data_state": str(first.data_state.value),
                },
                "history": {"id": history.id, "points": len(history.points)},
                "gate": {"services": decision.services, "decision": str(decision.decision.value)},
            }
        )
    )


main()
