"""Two agents accepting the same interaction at the same moment: exactly one wins."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from tests.api.scenario import company, received_interaction


def test_two_agents_accepting_at_once_one_wins_the_other_gets_409(client: TestClient) -> None:
    acme = company(client)
    for _ in range(10):
        interaction_id = received_interaction(client, acme)
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def accept(
            agent: str,
            interaction_id: str = interaction_id,
            barrier: threading.Barrier = barrier,
            results: dict[str, object] = results,
        ) -> None:
            barrier.wait()
            results[agent] = client.post(
                f"/v1/interactions/{interaction_id}/accept", headers=acme.token(agent)
            )

        threads = [threading.Thread(target=accept, args=(agent,)) for agent in ("A", "B")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(r.status_code for r in results.values())  # type: ignore[attr-defined]
        assert statuses == [200, 409]
        loser = next(r for r in results.values() if r.status_code == 409)  # type: ignore[attr-defined]
        assert loser.headers["content-type"] == "application/problem+json"
        assert loser.json()["type"] in ("/problems/already-taken", "/problems/concurrent-update")
