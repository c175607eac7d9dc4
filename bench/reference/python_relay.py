# The original post's server.py (/work/shared/seed/origin-post.txt), minimally
# made to run under Debian 12's python3-websockets (10.4). Changes, each marked
# "bench:" below:
#   - the client set is actually filled and emptied (the post's "# Add client."
#     had lost its line), and keyed by the URL path so the load generator's
#     rooms exist here too (one path = exactly the original's behaviour);
#   - the truncated `match` gets its missing `case _:` arm;
#   - the stray send after the loop is dropped, the server is started and run
#     forever on the port given, with TLS when a certificate and key are given.
# Everything else is the original: each request is JSON with hex values,
# decoded on arrival, then echoed to every client, sender included, with
# asyncio.gather before the next request of that connection is read.
#
#   /usr/bin/python3 python_relay.py PORT [CERT KEY]
import asyncio
import binascii
import json
import secrets
import ssl
import sys

import websockets

# Clients connected to chat server, by room (bench: URL path).
rooms = {}

# Generate salt unique to this session.
salt = secrets.token_hex(16)


async def handle_connection(websocket, url):
    clients = rooms.setdefault(url, set())  # bench
    clients.add(websocket)  # bench: "# Add client."
    try:
        async for request in websocket:
            jsonRequest = json_decode_request(request)
            if "action" in jsonRequest:
                match jsonRequest["action"]:
                    case b"retrieve-salt":  # bench: values arrive unhexlified
                        await websocket.send(salt.encode('utf-8'))
                    case _:  # bench: the arm the post lost
                        pass
                continue
            # The only thing the server does is echoing the incoming
            # request back to all clients. It has no idea of any keys.
            await asyncio.gather(*[client.send(request) for client in clients])
    finally:
        clients.discard(websocket)  # bench
        if not clients:
            rooms.pop(url, None)


# (ignore) Decode potentially hexified values from
# the request into JSON.
def json_decode_request(request):
    jsonReq = json.loads(request)
    for key, value in jsonReq.items():
        jsonReq[key] = binascii.unhexlify(value)
    return jsonReq


async def main():  # bench: start the server and run it
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 1234
    context = None
    if len(sys.argv) >= 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    async with websockets.serve(handle_connection, "127.0.0.1", port, ssl=context):
        print(f"python-relay: listening on port {port}", file=sys.stderr, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
