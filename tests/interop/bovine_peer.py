"""An independent ActivityPub peer built on bovine (PyPI), talking to a Live Stars instance.

It looks a model up by WebFinger, fetches her actor, sends a signed Follow, checks the signed
Accept that comes back (bovine's own HTTP-signature checker, with her key fetched from her
instance), and sends a signed Undo(Follow) that her instance accepts. Like servers in
"authorized fetch" mode, it serves its own actor only to signed GET requests.

With ROOM_ID and TOKEN it also starts her show (as she would) while following, and checks what
a Mastodon-like follower receives: a signed Create(Note) "now live" post (link, hashtags,
sensitive) and her room as a live PeerTube-style Video.

Usage: bovine_peer.py INSTANCE_URL HANDLE [ROOM_ID TOKEN]
Prints one JSON line of findings; exit status 0 only if every step held.
"""

import asyncio
import json
import socket
import sys
import uuid

import aiohttp
from aiohttp import web
from bovine.clients import lookup_uri_with_webfinger
from bovine.clients.signed_http import SignedHttpClient
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.types import CryptographicIdentifier

AP = "application/activity+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(instance: str, handle: str, room_id=None, token=None) -> int:
    port = free_port()
    base = f"http://localhost:{port}"
    actor_id = f"{base}/users/bob"
    public_pem, private_pem = generate_rsa_public_private_key()
    actor = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_id,
        "type": "Person",
        "preferredUsername": "bob",
        "name": "Bob (bovine)",
        "inbox": f"{actor_id}/inbox",
        "outbox": f"{actor_id}/outbox",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": public_pem},
    }
    received: asyncio.Queue = asyncio.Queue()
    findings: dict = {}

    async with aiohttp.ClientSession() as session:

        async def retrieve(key_id: str):
            async with session.get(key_id, headers={"accept": AP}) as r:
                data = await r.json(content_type=None)
            key = data.get("publicKey", data)
            return CryptographicIdentifier.from_pem(key["publicKeyPem"], key["owner"])

        validate = build_validate_http_signature_raw(retrieve)

        async def get_actor(request: web.Request):
            owner = await validate("get", str(request.url), request.headers, None)
            findings.setdefault("actor_fetches", []).append(owner)
            if owner is None:
                return web.Response(status=401, text="sign your GET")
            return web.json_response(actor, content_type=AP)

        async def inbox(request: web.Request):
            body = await request.read()

            async def get_body():
                return body

            owner = await validate(request.method, str(request.url), request.headers, get_body)
            await received.put((owner, json.loads(body)))
            return web.Response(status=202)

        app = web.Application()
        app.router.add_get("/users/bob", get_actor)
        app.router.add_post("/users/bob/inbox", inbox)
        app.router.add_post("/inbox", inbox)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        # 1. WebFinger.
        target, _ = await lookup_uri_with_webfinger(session, f"acct:{handle}", domain=instance)
        findings["webfinger"] = target
        # 2. Her actor.
        async with session.get(target, headers={"accept": AP}) as r:
            her = await r.json(content_type=None)
            findings["actor_type"] = her.get("type")
            findings["actor_content_type"] = r.headers.get("content-type")
        ok = her.get("type") == "Person" and "publicKeyPem" in her.get("publicKey", {})
        # 3. A signed Follow (bovine writes `digest: sha-256=…`, lower case).
        client = SignedHttpClient(session, f"{actor_id}#main-key", private_pem)
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{base}/activities/{uuid.uuid4()}",
            "type": "Follow",
            "actor": actor_id,
            "object": target,
        }
        r = await client.post(her["inbox"], json.dumps(follow))
        findings["follow_status"] = r.status
        ok = ok and r.status in (200, 202)
        # 4. Her signed Accept arrives and verifies with bovine's checker.
        accepted = False
        try:
            while not accepted:
                owner, activity = await asyncio.wait_for(received.get(), timeout=20)
                findings.setdefault("received", []).append(
                    {"type": activity.get("type"), "signed_by": owner}
                )
                if activity.get("type") == "Accept":
                    obj = activity.get("object")
                    obj_id = obj.get("id") if isinstance(obj, dict) else obj
                    accepted = owner == target and obj_id == follow["id"]
        except asyncio.TimeoutError:
            findings["accept"] = "timed out"
        findings["accept_verified"] = accepted
        ok = ok and accepted
        # Her instance fetched our actor with a signed GET (from its instance actor).
        ok = ok and any(o and o.endswith("/actor") for o in findings.get("actor_fetches", []))
        if room_id is not None:
            async with session.post(
                f"{instance}/api/rooms/{room_id}/start",
                json={"status": "live"},
                headers={"authorization": f"Bearer {token}"},
            ) as r:
                findings["start_status"] = r.status
            note, video = None, None
            try:
                while note is None or video is None:
                    owner, activity = await asyncio.wait_for(received.get(), timeout=20)
                    obj = activity.get("object")
                    if owner != target or not isinstance(obj, dict):
                        continue
                    if activity.get("type") == "Create" and obj.get("type") == "Note":
                        note = obj
                    if obj.get("type") == "Video" and obj.get("state") == 1:
                        video = obj
            except asyncio.TimeoutError:
                findings["now_live"] = "timed out"
            if note is not None:
                findings["note"] = {
                    "sensitive": note.get("sensitive"),
                    "links_to_show": f"/@{handle.split('@')[0]}/live" in note.get("content", ""),
                    "hashtags": [t.get("name") for t in note.get("tag", []) if t.get("type") == "Hashtag"],
                }
            if video is not None:
                findings["video"] = {"isLiveBroadcast": video.get("isLiveBroadcast"), "state": video.get("state")}
            ok = ok and note is not None and video is not None
        # 5. A signed Undo(Follow): accepted, and she has no follower left.
        undo = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{base}/activities/{uuid.uuid4()}",
            "type": "Undo",
            "actor": actor_id,
            "object": follow,
        }
        r = await client.post(her["inbox"], json.dumps(undo))
        findings["undo_status"] = r.status
        ok = ok and r.status in (200, 202)
        async with session.get(her["followers"], headers={"accept": AP}) as r:
            findings["followers_after_undo"] = (await r.json(content_type=None)).get("totalItems")
        ok = ok and findings["followers_after_undo"] == 0
        await runner.cleanup()
    findings["ok"] = ok
    print(json.dumps(findings))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))
