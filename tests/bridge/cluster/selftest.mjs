// Self-test of the clustered upstream (README.md here), without Sol: what the bridge's
// failover relies on, checked with MQTT.js as the bridge.
//
//   node tests/bridge/cluster/selftest.mjs
//
// Redis and two aedes nodes A and B. A persistent session (clean session false) subscribes
// at QoS 1 on A; a publisher on B sends a steady QoS 1 stream; A is killed with SIGKILL in
// the middle of it; the session reconnects to B with the same client id while the stream
// goes on, and must find its session there (session present) and receive every message
// of the stream: those delivered before the kill, those in flight, those B queued while
// it was away and those after. Duplicates are allowed (QoS 1 is at least once) and
// counted. Then a second round: the session disconnects cleanly from B, messages are
// published on B, and it resumes on B.
//
//   node tests/bridge/cluster/selftest.mjs --early-publish
//
// runs the nodes with aedes' own ordering of CONNACK and PUBLISH (node.mjs): MQTT.js then
// may time out waiting for the CONNACK of the failover.
// Exits 0 when every message arrived, 1 with what is missing otherwise.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'

const here = dirname(fileURLToPath(import.meta.url))
/** Passed on to node.mjs (--early-publish: aedes' own CONNACK ordering). */
const nodeArgs = process.argv.slice(2)
/** Every wait is bounded by this. */
const TIMEOUT = 15000
/** A is killed once the session received KILL_AFTER messages of the stream; the stream
 * stops once it received AFTER_FAILOVER more through B. */
const KILL_AFTER = 100
const AFTER_FAILOVER = 200
/** Messages published while the session is away cleanly (second round). */
const OFFLINE = 100
const SESSION = 'sol-bridge'
const TOPIC = 'site/up/'

const children = []
const dir = mkdtempSync(join(tmpdir(), 'sol-aedes-'))

function fail (why) {
  console.error(`FAIL: ${why}`)
  if (!process.env.VERBOSE) {
    for (const child of children) {
      console.error(`--- ${child.name}, last lines (all of them: VERBOSE=1) ---`)
      console.error(child.seen.slice(-20).join('\n'))
    }
  }
  cleanup()
  process.exit(1)
}

function cleanup () {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}

/** Resolves `promise` or fails with `what` after TIMEOUT. */
function bounded (promise, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Starts a child; `child.waitLine(re)` waits for a line of its stdout or stderr matching
 * `re` (lines seen before the call count too); `child.seen` holds them all.
 */
function start (name, command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  const seen = []
  child.name = name
  child.seen = seen
  const waiters = []
  const onLine = (line) => {
    seen.push(line)
    if (process.env.VERBOSE) console.error(`[${name}] ${line}`)
    for (const w of [...waiters]) {
      const m = line.match(w.re)
      if (m) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(m)
      }
    }
  }
  createInterface({ input: child.stdout }).on('line', onLine)
  createInterface({ input: child.stderr }).on('line', onLine)
  child.on('exit', (code, signal) => {
    if (!child.expectedExit) fail(`${name} exited (${code ?? signal}); it said:\n${seen.join('\n')}`)
  })
  child.waitLine = (re) => {
    const m = seen.map((l) => l.match(re)).find(Boolean)
    if (m) return Promise.resolve(m)
    return bounded(new Promise((resolve) => waiters.push({ re, resolve })), `${name}: ${re}`)
  }
  return child
}

async function startNode (name, socket) {
  const node = start(name, process.execPath, [join(here, 'node.mjs'), '--redis', socket, '--name', name, ...nodeArgs])
  node.port = Number((await node.waitLine(/^listening (\d+)$/))[1])
  return node
}

/**
 * An MQTT.js client connected to `port`, with its CONNACK; its messages go to `received`
 * from the start (a resumed session's queue arrives with the CONNACK).
 */
async function connect (port, options, received) {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT,
    ...options
  })
  if (received) received.listen(client)
  const connack = await bounded(new Promise((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  }), `CONNACK from ${port}`)
  return { client, connack }
}

/** Every message the session received: payload (a number) -> times, across connections. */
class Received {
  constructor () {
    this.times = new Map()
    this.onChange = null
  }

  /** Records the messages `client` receives. */
  listen (client) {
    client.on('message', (topic, payload) => {
      const n = Number(payload.toString())
      this.times.set(n, (this.times.get(n) || 0) + 1)
      if (this.onChange) this.onChange()
    })
  }

  get size () {
    return this.times.size
  }

  missing (from, to) {
    const missing = []
    for (let n = from; n < to; n++) if (!this.times.has(n)) missing.push(n)
    return missing
  }

  /** How many extra copies arrived, and of which messages (as ranges: "3-5 9"). */
  duplicates () {
    const extra = [...this.times.values()].reduce((sum, times) => sum + times - 1, 0)
    const twice = [...this.times.keys()].filter((n) => this.times.get(n) > 1).sort((x, y) => x - y)
    const ranges = []
    for (const n of twice) {
      const last = ranges[ranges.length - 1]
      if (last && last[1] === n - 1) last[1] = n
      else ranges.push([n, n])
    }
    return `${extra} duplicates (${ranges.map(([a, b]) => a === b ? a : `${a}-${b}`).join(' ') || 'none'})`
  }

  /** Waits until `ready()` holds, checked on each message. */
  until (ready, what) {
    return bounded(new Promise((resolve) => {
      this.onChange = () => ready() && resolve()
      this.onChange()
    }), what).finally(() => { this.onChange = null })
  }

  /** Waits until every number in [from, to) arrived; fails with the missing ones. */
  all (from, to, what) {
    return this.until(() => this.missing(from, to).length === 0, what).catch(() => {
      const missing = this.missing(from, to)
      fail(`${what}: ${missing.length} of ${to - from} missing: ${missing.join(' ')}`)
    })
  }
}

/** Publishes QoS 1 messages 0, 1, 2... through `client`, each after the last PUBACK, until stopped. */
function stream (client) {
  const run = { sent: 0, stopped: false }
  run.done = (async () => {
    while (!run.stopped) {
      await bounded(client.publishAsync(TOPIC + (run.sent % 7), String(run.sent), { qos: 1 }), `PUBACK ${run.sent}`)
      run.sent++
    }
  })()
  return run
}

async function main () {
  const socket = join(dir, 'redis.sock')
  const redis = start('redis', 'redis-server', [join(here, 'redis.conf'), '--unixsocket', socket, '--dir', dir])
  await redis.waitLine(/ready to accept connections/i)
  const a = await startNode('A', socket)
  const b = await startNode('B', socket)
  console.log(`redis at ${socket}; node A on ${a.port}, node B on ${b.port}`)

  // The session, on A.
  const got = new Received()
  let session = await connect(a.port, { clientId: SESSION, clean: false }, got)
  const lost = new Promise((resolve) => session.client.once('close', resolve))
  await bounded(session.client.subscribeAsync(TOPIC + '#', { qos: 1 }), 'SUBACK')
  // B routes a publish to an offline session only once it knows the subscription.
  await b.waitLine(new RegExp(`cluster subscription ${SESSION} ${TOPIC}#@1`))

  // The stream, through B; A killed under it.
  const publisher = (await connect(b.port, { clientId: 'publisher', clean: true })).client
  const run = stream(publisher)
  await got.until(() => got.size >= KILL_AFTER, `${KILL_AFTER} messages through A`)
  a.expectedExit = true
  a.kill('SIGKILL')
  await bounded(lost, 'the session noticing A is gone')
  const before = got.size
  console.log(`A killed: ${run.sent} published, ${before} received`)

  // Failover: the same session on B, the stream still running.
  session.client.end(true)
  session = await connect(b.port, { clientId: SESSION, clean: false }, got)
  if (!session.connack.sessionPresent) fail('B did not find the session (CONNACK session present 0)')
  await got.until(() => got.size >= before + AFTER_FAILOVER, `${AFTER_FAILOVER} more messages through B`)
  run.stopped = true
  await run.done
  await got.all(0, run.sent, 'after failover to B')
  console.log(`failover: all ${run.sent} received (${got.size - before} after resuming on B), ${got.duplicates()}`)

  // Second round: away from B cleanly, messages queued by B, resumed on B.
  await session.client.endAsync()
  const first = run.sent
  for (let n = first; n < first + OFFLINE; n++) {
    await bounded(publisher.publishAsync(TOPIC + 'x', String(n), { qos: 1 }), `PUBACK ${n}`)
  }
  session = await connect(b.port, { clientId: SESSION, clean: false }, got)
  if (!session.connack.sessionPresent) fail('B lost the session after a clean disconnect')
  await got.all(first, first + OFFLINE, 'queued while away, resumed on B')
  console.log(`offline queue: all ${OFFLINE} received on resume; in all ${got.duplicates()}`)

  await session.client.endAsync()
  await publisher.endAsync()
  b.expectedExit = true
  const exited = new Promise((resolve) => b.once('exit', resolve))
  b.kill('SIGTERM')
  const code = await bounded(exited, 'B exiting on SIGTERM')
  if (code !== 0) fail(`B exited ${code} on SIGTERM`)
  redis.expectedExit = true
  cleanup()
  console.log('PASS')
}

main().catch((err) => fail(err.stack || err))
