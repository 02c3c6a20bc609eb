"""The app starts on both engines and answers the basics."""


async def test_health_and_ready(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    resp = await client.get("/readyz")
    assert resp.status == 200


async def test_login_and_me(client, alice):
    resp = await client.post(
        "/api/v1/auth/login",
        json={"email": "ALICE@example.com", "password": "correct horse battery staple"},
    )
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["access_token"]
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    body = await resp.json()
    assert body["email"] == "alice@example.com"
    assert body["role"] == "user"
