// MQTT over WebSockets against Sol with real clients: MQTT.js from Node over ws:// and
// wss:// (MQTT 3.1.1 and 5.0, QoS 0/1/2, a 1 MiB message, clients of a plain MQTT
// listener and of a WebSocket one talking to each other), and MQTT.js's browser build in
// headless Chromium (Debian's `chromium`), which connects, subscribes, publishes and
// reports back to the page's server.
//
//   usage: node tests/websockets/run.mjs --sol target/release/sol [--chromium chromium]
//
// Starts its own Sol on ports chosen by the kernel (`listener 0`), with certificates
// made by tests/tls/make-certs.sh; every wait is bounded. Prints PASS/FAIL per test and
// exits non-zero if any failed.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const sol = option('--sol');
const chromium = option('--chromium', 'chromium');
if (!sol) {
  console.error('usage: node tests/websockets/run.mjs --sol PATH [--chromium PATH]');
  process.exit(2);
}

const WAIT_MS = 15000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sol-ws-'));
execFileSync('sh', [path.join(here, '..', 'tls', 'make-certs.sh'), work]);
const ca = fs.readFileSync(path.join(work, 'ca.crt'));

// A WebSocket listener, the same over TLS, and a plain MQTT one, in this order.
const config = path.join(work, 'sol.conf');
fs.writeFileSync(config, [
  'allow_anonymous true',
  'listener 0 127.0.0.1',
  'protocol websockets',
  'listener 0 127.0.0.1',
  'protocol websockets',
  `certfile ${path.join(work, 'server.crt')}`,
  `keyfile ${path.join(work, 'server.key')}`,
  'listener 0 127.0.0.1',
  '',
].join('\n'));

/** Starts Sol; resolves with the three listeners' ports once it listens on all. */
function startSol() {
  const child = spawn(sol, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Sol did not start:\n${log.join('\n')}`)), WAIT_MS);
    const ports = [];
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      log.push(line);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
      if (m) ports.push(Number(m[1]));
      if (ports.length === 3) {
        clearTimeout(timer);
        resolve({ child, ports, log });
      }
    });
    child.on('exit', (code) => reject(new Error(`Sol exited (${code}):\n${log.join('\n')}`)));
  });
}

/** Resolves with `promise`, or rejects after WAIT_MS saying what was awaited. */
function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A connected MQTT.js client. */
async function connect(url, options = {}) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  await within(`connect to ${url}`, new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  }));
  return client;
}

/** Collects the next `n` messages `client` receives. */
function nextMessages(client, n) {
  return new Promise((resolve) => {
    const got = [];
    const on = (topic, payload, packet) => {
      got.push({ topic, payload, packet });
      if (got.length === n) {
        client.removeListener('message', on);
        resolve(got);
      }
    };
    client.on('message', on);
  });
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Publishes at QoS 0, 1 and 2 from `publisher`; `subscriber` gets all three. */
async function roundTrip(subscriber, publisher, topic) {
  await within('subscribe', subscriber.subscribeAsync(`${topic}/#`, { qos: 2 }));
  const arriving = nextMessages(subscriber, 3);
  for (const qos of [0, 1, 2]) {
    await within(`publish QoS ${qos}`, publisher.publishAsync(`${topic}/q${qos}`, `hello ${qos}`, { qos }));
  }
  const got = await within('3 messages', arriving);
  const seen = got.map((m) => `${m.topic}=${m.payload}@${m.packet.qos}`).sort();
  assert(
    JSON.stringify(seen) === JSON.stringify([0, 1, 2].map((q) => `${topic}/q${q}=hello ${q}@${q}`)),
    `got ${JSON.stringify(seen)}`,
  );
}

const tests = [];
const test = (name, body) => tests.push({ name, body });

test('ws:// MQTT 3.1.1: publish and subscribe at QoS 0, 1 and 2', async ({ ws }) => {
  const c = await connect(`ws://127.0.0.1:${ws}`, { protocolVersion: 4 });
  try { await roundTrip(c, c, 'ws311'); } finally { c.end(true); }
});

test('ws:// MQTT 5.0: user properties and response topic arrive unchanged', async ({ ws }) => {
  const c = await connect(`ws://127.0.0.1:${ws}`, { protocolVersion: 5 });
  try {
    await within('subscribe', c.subscribeAsync('ws5/req', { qos: 1 }));
    const arriving = nextMessages(c, 1);
    await c.publishAsync('ws5/req', 'ping', {
      qos: 1,
      properties: { responseTopic: 'ws5/reply', userProperties: { trace: 'abc' } },
    });
    const [m] = await within('request', arriving);
    assert(m.packet.properties.responseTopic === 'ws5/reply', 'response topic');
    assert(m.packet.properties.userProperties.trace === 'abc', 'user property');
  } finally { c.end(true); }
});

test('wss:// MQTT 3.1.1 and 5.0 over TLS', async ({ wss }) => {
  for (const protocolVersion of [4, 5]) {
    const c = await connect(`wss://127.0.0.1:${wss}`, { protocolVersion, ca, rejectUnauthorized: true });
    try { await roundTrip(c, c, `wss${protocolVersion}`); } finally { c.end(true); }
  }
});

test('a WebSocket client and a plain MQTT client talk to each other', async ({ ws, tcp }) => {
  const web = await connect(`ws://127.0.0.1:${ws}`);
  const plain = await connect(`mqtt://127.0.0.1:${tcp}`);
  try {
    await roundTrip(web, plain, 'cross/a');
    await roundTrip(plain, web, 'cross/b');
  } finally { web.end(true); plain.end(true); }
});

test('a 1 MiB message over ws:// arrives intact', async ({ ws }) => {
  const c = await connect(`ws://127.0.0.1:${ws}`, { protocolVersion: 5 });
  try {
    await within('subscribe', c.subscribeAsync('big/one', { qos: 1 }));
    const body = Buffer.alloc(1 << 20, 0);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const arriving = nextMessages(c, 1);
    await within('publish 1 MiB', c.publishAsync('big/one', body, { qos: 1 }));
    const [m] = await within('1 MiB message', arriving);
    assert(Buffer.compare(m.payload, body) === 0, '1 MiB payload differs');
  } finally { c.end(true); }
});

test('MQTT.js in headless Chromium connects, subscribes, publishes and receives', async ({ ws }) => {
  const page = fs.readFileSync(path.join(here, 'browser.html'));
  const library = fs.readFileSync(path.join(here, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'));
  let report;
  const reported = new Promise((resolve) => { report = resolve; });
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/result') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { res.end('ok'); report(JSON.parse(body)); });
    } else if (req.url.startsWith('/mqtt.min.js')) {
      res.setHeader('content-type', 'text/javascript');
      res.end(library);
    } else {
      res.setHeader('content-type', 'text/html');
      res.end(page);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/?broker=ws://127.0.0.1:${ws}`;
  const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
  const browser = spawn(chromium, [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
    `--user-data-dir=${profile}`, url,
  ], { stdio: 'ignore' });
  try {
    const result = await within('the page to report', reported);
    assert(result.ok, `the page says: ${result.error}`);
    assert(result.received === 'hello from Chromium', `received ${result.received}`);
  } finally {
    const exited = new Promise((resolve) => browser.once('exit', resolve));
    browser.kill('SIGKILL');
    await within('Chromium to exit', exited).catch(() => {});
    server.close();
  }
});

let failed = 0;
const { child, ports, log } = await startSol();
const [ws, wss, tcp] = ports;
for (const { name, body } of tests) {
  try {
    await body({ ws, wss, tcp });
    console.log(`PASS  ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL  ${name}\n    ${e.stack || e}`);
  }
}
child.kill('SIGTERM');
if (failed) console.log(`Sol's log:\n${log.join('\n')}`);
try {
  // Chromium's helpers may still be writing its profile for a moment.
  fs.rmSync(work, { recursive: true, force: true, maxRetries: 10 });
} catch (e) {
  console.log(`note: ${work} left behind: ${e.message}`);
}
console.log(`${tests.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
