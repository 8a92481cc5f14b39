"""The single-page-app example through the test client."""

from __future__ import annotations

import json

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Accept": "application/json"}


def test_client_routes_fall_back_to_index(spa_app):
    client = spa_app.test_client()
    with client.get("/", headers=HTML) as index:
        assert index.status_code == 200
        assert b'<main id="view"' in index.data
    with client.get("/items/42", headers=HTML) as deep:
        assert deep.status_code == 200
        assert deep.data == index.data
    with client.get("/items/42") as no_accept:  # no Accept header counts as HTML
        assert no_accept.status_code == 200


def test_assets_and_api_misses_are_real_404s(spa_app):
    client = spa_app.test_client()
    with client.get("/app.js") as script:
        assert script.status_code == 200
    assert client.get("/missing.js", headers=HTML).status_code == 404
    api_miss = client.get("/api/nothing", headers=HTML)
    assert api_miss.status_code == 404
    assert client.get("/api/nothing", headers=JSON).json["status"] == 404
    assert client.post("/items/1", headers=HTML).status_code in (404, 405)


def test_api_round_trip_with_csrf_protection(spa_app):
    client = spa_app.test_client()
    created = client.post("/api/items", json={"text": "milk"}, headers=SAME_ORIGIN)
    assert created.status_code == 201
    assert client.get("/api/items").json["items"] == [{"id": 1, "text": "milk"}]
    refused = client.post(
        "/api/items", json={"text": "evil"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code in (400, 403)
    bad = client.post("/api/items", json={"text": ""}, headers=SAME_ORIGIN)
    assert bad.status_code == 400
    assert "1 to 500 characters" in bad.json["message"]
    assert client.delete("/api/items/1", headers=SAME_ORIGIN).status_code == 204
    assert client.delete("/api/items/1", headers=SAME_ORIGIN).status_code == 404


def test_events_stream(spa_app):
    client = spa_app.test_client()
    client.post("/api/items", json={"text": "eggs"}, headers=SAME_ORIGIN)
    response = client.get("/api/events")
    assert response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    data_lines = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
    assert json.loads(data_lines[0])["items"] == [{"id": 1, "text": "eggs"}]
    assert "event: items" in body
