"""Inbound security of a Live Stars inbox, probed by a peer that signs with bovine (PyPI).

Each case sends one request to Anna's inbox and records the status and her follower count
afterwards (a refused request must leave nothing behind). The peer serves two actors, bob and
eve, with their own keys.

Usage: inbound_checks.py INSTANCE_URL   (the instance has an account `anna`)
Prints one JSON object: {case: {"status": …, "followers": …}}.
"""

import asyncio
import json
import socket
import sys
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from bovine.clients.utils import host_target_from_url
from bovine.crypto import generate_rsa_public_private_key
from bovine.crypto.helper import content_digest_sha256
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicSecret
from bovine.utils import get_gmt_now

AP = "application/activity+json"
GMT = "%a, %d %b %Y %H:%M:%S GMT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def actor_doc(base: str, name: str, public_pem: str) -> dict:
    aid = f"{base}/users/{name}"
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": aid,
        "type": "Person",
        "preferredUsername": name,
        "inbox": f"{aid}/inbox",
        "publicKey": {"id": f"{aid}#main-key", "owner": aid, "publicKeyPem": public_pem},
    }


def signed(secret, url, body: bytes, date=None, digest=None, prefix="sha-256") -> dict:
    host, target = host_target_from_url(url)
    date = date or get_gmt_now()
    digest = digest or content_digest_sha256(body, prefix=prefix)
    h = (
        build_signature(host, "post", target)
        .with_field("date", date)
        .with_field("digest", digest)
        .with_field("content-type", AP)
    )
    return {**h.headers, "signature": h.sign_for_http_draft(secret)}


async def main(instance: str) -> int:
    port = free_port()
    base = f"http://localhost:{port}"
    keys = {n: generate_rsa_public_private_key() for n in ("bob", "eve")}
    docs = {n: actor_doc(base, n, keys[n][0]) for n in keys}
    bob = docs["bob"]["id"]
    secret = {n: CryptographicSecret.from_pem(f"{docs[n]['id']}#main-key", keys[n][1]) for n in keys}

    async def get_actor(request: web.Request):
        return web.json_response(docs[request.match_info["name"]], content_type=AP)

    async def inbox(_request):
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/users/{name}", get_actor)
    app.router.add_post("/users/{name}/inbox", inbox)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    anna = f"{instance}/users/anna"
    inbox_url = f"{anna}/inbox"
    results: dict = {}

    def follow(actor=bob, id_base=base):
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{id_base}/activities/{uuid.uuid4()}",
            "type": "Follow",
            "actor": actor,
            "object": anna,
        }

    async with aiohttp.ClientSession() as session:

        async def followers() -> int:
            async with session.get(f"{anna}/followers", headers={"accept": AP}) as r:
                return (await r.json(content_type=None))["totalItems"]

        async def send(case: str, body: bytes, headers: dict):
            async with session.post(
                inbox_url, data=body, headers={"content-type": AP, **headers}
            ) as r:
                results[case] = {"status": r.status, "followers": await followers()}
                if r.status >= 400:
                    results[case]["error"] = (await r.json(content_type=None)).get("error")

        def body_of(doc) -> bytes:
            return json.dumps(doc).encode()

        b = body_of(follow())
        await send("unsigned", b, {"date": get_gmt_now()})
        await send("wrong_key", b, signed(CryptographicSecret.from_pem(f"{bob}#main-key", keys["eve"][1]), inbox_url, b))
        other = body_of(follow())
        await send("digest_mismatch", other, signed(secret["bob"], inbox_url, b))
        stale = (datetime.now(tz=timezone.utc) - timedelta(minutes=20)).strftime(GMT)
        await send("stale_date", b, signed(secret["bob"], inbox_url, b, date=stale))
        rfc9421 = {
            "date": get_gmt_now(),
            "signature-input": 'sig1=("@method" "@target-uri" "content-digest");created=1;keyid="%s#main-key"' % bob,
            "signature": "sig1=:AAAA:",
            "content-digest": "sha-256=:AAAA:",
        }
        await send("rfc9421", b, rfc9421)
        big = body_of({**follow(), "padding": "x" * 300_000})
        await send("oversize", big, signed(secret["bob"], inbox_url, big))
        bad = b'{"id": "' + base.encode() + b'/a", "type": "Follow", '
        await send("malformed_json", bad, signed(secret["bob"], inbox_url, bad))
        spoof = body_of(follow(id_base="http://evil.example"))
        await send("id_host_differs", spoof, signed(secret["bob"], inbox_url, spoof))
        wrong_host = body_of(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{base}/activities/{uuid.uuid4()}",
                "type": "Update",
                "actor": bob,
                "object": {"id": "http://evil.example/users/mallory", "type": "Person"},
            }
        )
        await send("object_host_differs", wrong_host, signed(secret["bob"], inbox_url, wrong_host))
        eve_body = body_of(follow(actor=docs["eve"]["id"]))
        await send("key_of_another_actor", eve_body, signed(secret["bob"], inbox_url, eve_body))

        # Accepted: upper-case digest name; then an exact replay; then the same id re-signed.
        good = follow()
        gb = body_of(good)
        headers = signed(secret["bob"], inbox_url, gb, prefix="SHA-256")
        await send("valid_uppercase_digest", gb, headers)
        await send("replay", gb, headers)
        await asyncio.sleep(1.1)  # a new Date, so a new signature
        await send("same_id_resigned", gb, signed(secret["bob"], inbox_url, gb))

        # Large @context, embedded LD signature and proof: ignored, not fatal.
        undo = {
            "@context": [
                "https://www.w3.org/ns/activitystreams",
                "https://w3id.org/security/v1",
                "https://w3id.org/security/data-integrity/v1",
                {"toot": "http://joinmastodon.org/ns#", "Emoji": "toot:Emoji"},
                *[{f"term{i}": f"https://example.org/ns#term{i}"} for i in range(200)],
            ],
            "id": f"{base}/activities/{uuid.uuid4()}",
            "type": "Undo",
            "actor": bob,
            "object": good,
            "signature": {
                "type": "RsaSignature2017",
                "creator": f"{bob}#main-key",
                "created": "2026-11-26T00:00:00Z",
                "signatureValue": "AAAA",
            },
            "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofValue": "z1"},
        }
        ub = body_of(undo)
        await send("large_context_with_proofs", ub, signed(secret["bob"], inbox_url, ub))
    await runner.cleanup()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
