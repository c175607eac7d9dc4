// Reference relay: Node.js on the `ws` package, the way most chat relays are
// written. Every message goes to every client of its room, the sender included,
// as the original Python relay does; a room is the URL path (one path = one
// room, so the load generator's rooms are the same for every relay).
//
//   node ws-relay.js PORT [CERT KEY]     (with CERT and KEY it serves wss://)
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8081);
const tls = process.argv.length >= 5;
const server = tls
  ? https.createServer({ cert: fs.readFileSync(process.argv[3]), key: fs.readFileSync(process.argv[4]) })
  : http.createServer();
// ws's defaults: no permessage-deflate on the server, 100 MiB max payload.
const wss = new WebSocketServer({ server });
const rooms = new Map(); // path -> Set of sockets

wss.on('connection', (socket, request) => {
  const path = request.url;
  let room = rooms.get(path);
  if (!room) rooms.set(path, (room = new Set()));
  room.add(socket);
  socket.on('message', (data, isBinary) => {
    for (const client of room) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  socket.on('close', () => {
    room.delete(socket);
    if (room.size === 0) rooms.delete(path);
  });
  socket.on('error', () => {});
});

server.listen(port, '127.0.0.1', () => {
  console.error(`ws-relay: listening on ${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`);
});
