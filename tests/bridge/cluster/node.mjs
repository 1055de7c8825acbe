// One node of an aedes cluster: the clustered upstream of Sol's bridge failover tests
// (README.md here). Every node started with the same --redis shares sessions (clean
// session false: subscriptions and queued QoS 1/2 messages, aedes-persistence-redis) and
// routes publishes to the other nodes' clients (mqemitter-redis), so a client can lose
// its node, connect to another one and resume its session there.
//
//   node node.mjs --redis PATH|PORT [--port PORT] [--name NAME] [--early-publish]
//                 [--ack-after-routing]
//
// --redis: Redis's Unix socket (a path) or its TCP port on 127.0.0.1. --port: the MQTT
// port on 127.0.0.1 (default 0: an ephemeral one). Prints one line `listening PORT` on
// stdout once it accepts connections and has loaded the cluster's sessions; logs
// connects, disconnects, subscriptions and errors on stderr. Exits 0 on SIGTERM or SIGINT.
// A SIGKILL leaves the other nodes running: they hold no state of this one.

import net from 'node:net'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import redisPersistence from 'aedes-persistence-redis'
import redisEmitter from 'mqemitter-redis'

const { values: args } = parseArgs({
  options: {
    redis: { type: 'string' },
    port: { type: 'string', default: '0' },
    name: { type: 'string' },
    'early-publish': { type: 'boolean', default: false },
    'ack-after-routing': { type: 'boolean', default: false }
  }
})
if (!args.redis) {
  console.error('usage: node node.mjs --redis PATH|PORT [--port PORT] [--name NAME] [--early-publish]')
  process.exit(2)
}
// ioredis takes { path } for a Unix socket, { host, port } for TCP; both libraries pass
// their options to it.
const redis = /^\d+$/.test(args.redis)
  ? { host: '127.0.0.1', port: Number(args.redis) }
  : { path: args.redis }

// aedes answers a QoS 1 PUBLISH with PUBACK *before* it routes it
// (lib/handlers/publish.js: write(PubAck), then broker.publish): a node killed in between
// loses a message its client was told it has, which no client can recover.
// --ack-after-routing swaps the order (the PUBACK follows the emit through Redis), so
// that a test of a client's failover measures the client, not this window of aedes'.
const require = createRequire(import.meta.url)
if (args['ack-after-routing']) {
  const path = require.resolve('aedes/lib/handlers/publish.js')
  const original = require(path)
  const write = require('aedes/lib/write.js')
  require.cache[path].exports = function handlePublish (client, packet, done) {
    if (packet.qos !== 1 || !packet.topic || /[#+]/.test(packet.topic)) {
      return original(client, packet, done)
    }
    client.broker.authorizePublish(client, packet, (err) => {
      if (err) return done(err)
      client.broker.publish(packet, client, (err) => {
        if (err) return done(err)
        write(client, { cmd: 'puback', messageId: packet.messageId }, done)
      })
    })
  }
}
// Loaded after the swap: its handlers take the publish handler from the module cache.
const { default: Aedes } = await import('aedes')

// A resumed session gets the first maxSessionDelivery + 1 messages of its queue (default
// 1000), the rest only at its next connection: raised so that a backlog is never held back.
const persistence = redisPersistence({ ...redis, maxSessionDelivery: 100000 })
const mq = redisEmitter({ ...redis })
const broker = Aedes({ persistence, mq })
const name = args.name || broker.id
const log = (...words) => console.error(`aedes ${name}:`, ...words)

broker.on('client', (c) => log('connect', c.id, `clean=${c.clean}`))
broker.on('clientDisconnect', (c) => log('disconnect', c.id))
broker.on('subscribe', (subs, c) =>
  log('subscribe', c && c.id, subs.map((s) => `${s.topic}@${s.qos}`).join(' ')))
broker.on('clientError', (c, err) => log('client error', c && c.id, err.message))
broker.on('connectionError', (c, err) => log('connection error', c && c.id, err.message))
broker.on('error', (err) => log('error', err.message))
mq.state.on('error', (err) => log('emitter error', err.message))
// Every node learns each subscription through the emitter (aedes-cached-persistence keeps
// them in memory to route publishes to offline sessions): a test waits for this line on
// the node it will publish through before relying on a session's queue there.
broker.subscribe('$SYS/sub/add', (packet, done) => {
  const { clientId, subs } = JSON.parse(packet.payload)
  for (const sub of subs) log('cluster subscription', clientId, `${sub.topic}@${sub.qos}`)
  done()
})

// aedes restores a resumed session's subscriptions before it writes the CONNACK, and
// writes a message routed to them in between: a PUBLISH before the CONNACK under a
// steady stream, which MQTT 3.1.1 forbids ("The first packet sent from the Server to
// the Client MUST be a CONNACK Packet" [MQTT-3.2.0-1]) and which leaves MQTT.js 5 waiting
// for a CONNACK it already has. Until a client's CONNACK is written, its deliveries wait
// here; a message it never gets stays in its session's queue in Redis (QoS 1 and 2).
// --early-publish keeps aedes' behaviour, to test a client against it.
const held = new Map() // client -> deliveries waiting for its CONNACK
broker.on('connackSent', (_, client) => {
  const waiting = held.get(client) || []
  held.delete(client)
  for (const deliver of waiting) deliver()
})

function handle (conn, req) {
  const client = broker.handle(conn, req)
  if (args['early-publish']) return
  for (const method of ['deliver0', 'deliverQoS']) {
    const deliver = client[method]
    client[method] = (packet, done) => {
      if (client.connackSent) return deliver(packet, done)
      if (!held.has(client)) held.set(client, [])
      const later = () => deliver(packet, done)
      later.drop = done
      held.get(client).push(later)
    }
  }
  conn.once('close', () => {
    for (const later of held.get(client) || []) later.drop()
    held.delete(client)
  })
}

const server = net.createServer(handle)
server.on('error', (err) => {
  log('listener error', err.message)
  process.exit(1)
})

// The persistence is ready once it subscribed to the cluster's subscription changes
// (through the emitter, so Redis is reachable) and loaded every stored session.
const ready = persistence.ready ? Promise.resolve() : new Promise((resolve) => persistence.once('ready', resolve))
ready.then(() => {
  server.listen(Number(args.port), '127.0.0.1', () => {
    const port = server.address().port
    log(`id ${broker.id} listening on 127.0.0.1:${port}`)
    process.stdout.write(`listening ${port}\n`)
  })
})

function stop (signal) {
  log('stopping on', signal)
  // A client that never closes its connection must not keep the node alive.
  setTimeout(() => process.exit(0), 2000).unref()
  server.close()
  // Once the clients are closed: closing the Redis connections under commands still
  // queued on them would throw.
  broker.once('closed', () => process.exit(0))
  broker.close()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
