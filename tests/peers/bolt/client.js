'use strict';

// A real sofa-rpc-node Bolt consumer (direct mode, no registry) for interop tests.
// Usage: node client.js HOST:PORT SCENARIO [ARG]
//   (or SERVER=HOST:PORT node client.js SCENARIO [ARG])
// Scenarios: hello | concurrent [N=100] | big | heartbeat | error | timeout
//   | calls JSON (a list of {method, args, timeout} invoked at once; results in order)
// Prints JSON lines on stdout; the last one is {"scenario",...,"ok"}.
// Exit 0 when the scenario's check passes, 1 when it fails, 2 on the hard time limit.
// Env: BOLT=v1|v2|v2crc (frame format the client sends; default v1),
//      HARD_LIMIT_MS (default 60000), HEARTBEAT_IDLE_MS (default 4000).

const bolt = require('sofa-bolt-node');
const DynamicConfig = require('sofa-rpc-node/lib/client/dynamic_config');
const { RpcClient } = require('sofa-rpc-node').client;

const INTERFACE = 'com.alipay.sofa.rpc.quickstart.HelloService';
const HARD_LIMIT_MS = Number(process.env.HARD_LIMIT_MS || 60000);

const argv = process.argv.slice(2);
const server = /:\d+$/.test(argv[0] || '') ? argv.shift() : process.env.SERVER;
const scenario = argv[0];
const scenarioArg = argv[1];

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function finish(result) {
  out(Object.assign({ scenario }, result));
  process.exit(result.ok ? 0 : 1);
}

setTimeout(() => {
  out({ scenario, ok: false, error: 'hard time limit ' + HARD_LIMIT_MS + 'ms reached' });
  process.exit(2);
}, HARD_LIMIT_MS);

function errInfo(err) {
  if (!(err instanceof Error)) return { value: String(err) };
  return { name: err.name, message: err.message, resultCode: err.resultCode, code: err.code };
}

// The connection encoder is v1 unless told otherwise (sofa-bolt-node lib/encoder.js:28-36);
// the switches are setters on each encoder instance, so wrap the factory.
function protocolFor(kind) {
  if (!kind || kind === 'v1') return bolt;
  return Object.assign({}, bolt, {
    encoder(opts) {
      const enc = bolt.encoder(opts);
      enc.protocolType = 'bolt2';
      enc.boltVersion = kind === 'v2crc' ? 2 : 1;
      enc.crcEnable = kind === 'v2crc';
      return enc;
    },
  });
}

const noop = () => {};
const logger = { debug: noop, info: noop, warn: noop, error: noop };

function makeClient(connectionOpts) {
  const client = new RpcClient({
    logger,
    protocol: protocolFor(process.env.BOLT),
    connectionOpts: Object.assign({ protocol: protocolFor(process.env.BOLT) }, connectionOpts),
  });
  client.on('error', err => out({ event: 'client_error', error: errInfo(err) }));
  const consumer = client.createConsumer({ interfaceName: INTERFACE, serverHost: server });
  return { client, consumer };
}

function bigString(size) {
  // Varied content so that a shifted or truncated copy cannot compare equal.
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  let x = 12345;
  while (s.length < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

const scenarios = {
  async hello() {
    const { consumer } = makeClient();
    await consumer.ready();
    try {
      const result = await consumer.invoke('sayHello', [ 'peter' ]);
      return { ok: result === 'hello peter !', result };
    } catch (err) {
      return { ok: false, error: errInfo(err) };
    }
  },

  async concurrent() {
    const n = Number(scenarioArg || 100);
    const { consumer } = makeClient();
    await consumer.ready();
    const names = Array.from({ length: n }, (_, i) => 'caller-' + i);
    const settled = await Promise.allSettled(
      names.map(name => consumer.invoke('sayHello', [ name ], { responseTimeout: 10000 })));
    let good = 0;
    const bad = [];
    settled.forEach((s, i) => {
      const want = 'hello ' + names[i] + ' !';
      if (s.status === 'fulfilled' && s.value === want) good++;
      else if (bad.length < 5) bad.push({ i, want, got: s.status === 'fulfilled' ? s.value : errInfo(s.reason) });
    });
    return { ok: good === n, n, good, bad };
  },

  async big() {
    const size = Number(scenarioArg || 1024 * 1024);
    const { consumer } = makeClient();
    await consumer.ready();
    const s = bigString(size);
    try {
      const result = await consumer.invoke('echo', [ s ], { responseTimeout: 20000 });
      return { ok: result === s, size, resultLength: typeof result === 'string' ? result.length : null };
    } catch (err) {
      return { ok: false, size, error: errInfo(err) };
    }
  },

  async heartbeat() {
    // Heartbeats are sent from AddressGroup#_onNext (lib/client/address_group.js:257), which runs
    // once per metric bucket (DynamicConfig metric.bucketSizeInMs, default 10 s), and only when the
    // connection has been idle longer than connectionOpts.maxIdleTime (default 30 s;
    // lib/client/connection/rpc.js:142-153). Shrink both; must happen before the client exists.
    DynamicConfig.instance.metric.bucketSizeInMs = 250;
    const idleMs = Number(scenarioArg || process.env.HEARTBEAT_IDLE_MS || 4000);
    const { client, consumer } = makeClient({ maxIdleTime: 1000 });
    await consumer.ready();
    const first = await consumer.invoke('sayHello', [ 'before' ]);

    // The library ignores heartbeat acks; count both directions ourselves.
    let sent = 0;
    let acks = 0;
    for (const conn of client.connectionManager.connections.values()) {
      const write = conn._encoder.writeHeartbeat.bind(conn._encoder);
      conn._encoder.writeHeartbeat = (id, hb, cb) => { sent++; write(id, hb, cb); };
      conn._decoder.on('heartbeat_ack', () => { acks++; });
    }
    await new Promise(resolve => setTimeout(resolve, idleMs));
    try {
      const after = await consumer.invoke('sayHello', [ 'after' ]);
      const ok = first === 'hello before !' && after === 'hello after !' && sent >= 1 && acks >= 1;
      return { ok, heartbeatsSent: sent, heartbeatAcks: acks, first, after };
    } catch (err) {
      return { ok: false, heartbeatsSent: sent, heartbeatAcks: acks, error: errInfo(err) };
    }
  },

  async error() {
    const { consumer } = makeClient();
    await consumer.ready();
    try {
      const result = await consumer.invoke('boom', []);
      return { ok: false, unexpectedResult: result };
    } catch (err) {
      return { ok: /boom/.test(err.message), error: errInfo(err) };
    }
  },

  async calls() {
    // ARG: a JSON list of {method, args, timeout}; all invoked at once on one connection.
    // Prints {"event":"invoking"} just before the calls go out, for tests that act mid-call.
    const calls = JSON.parse(scenarioArg || '[]');
    const { consumer } = makeClient();
    await consumer.ready();
    out({ event: 'invoking', calls: calls.length });
    const results = await Promise.all(calls.map(async c => {
      const start = Date.now();
      try {
        const value = await consumer.invoke(c.method, c.args || [], { responseTimeout: c.timeout || 5000 });
        return { ok: true, value, elapsedMs: Date.now() - start };
      } catch (err) {
        return { ok: false, error: errInfo(err), elapsedMs: Date.now() - start };
      }
    }));
    return { ok: results.every(r => r.ok), results };
  },

  async paced() {
    // ARG: "N MS": N calls on one connection, one every MS milliseconds without waiting for
    // replies (a fixed rate). Prints {"event":"invoking"} once the first goes out.
    const [n, every] = (scenarioArg || '100 20').split(' ').map(Number);
    const { consumer } = makeClient();
    await consumer.ready();
    out({ event: 'invoking', calls: n });
    const calls = [];
    for (let i = 0; i < n; i++) {
      const name = 'paced-' + i;
      calls.push(consumer.invoke('sayHello', [ name ], { responseTimeout: 5000 }).then(
        value => (value === 'hello ' + name + ' !' ? { ok: true } : { ok: false, i, value }),
        err => ({ ok: false, i, error: errInfo(err) })));
      await new Promise(resolve => setTimeout(resolve, every));
    }
    const results = await Promise.all(calls);
    const bad = results.filter(r => !r.ok);
    return { ok: bad.length === 0, n, good: n - bad.length, bad: bad.slice(0, 5) };
  },

  async timeout() {
    const timeoutMs = 500;
    const sleepMs = Number(scenarioArg || 2000);
    const { consumer } = makeClient();
    await consumer.ready();
    const start = Date.now();
    try {
      const result = await consumer.invoke('sleep', [ sleepMs ], { responseTimeout: timeoutMs });
      return { ok: false, unexpectedResult: result, elapsedMs: Date.now() - start };
    } catch (err) {
      const elapsedMs = Date.now() - start;
      return { ok: elapsedMs < sleepMs, responseTimeout: timeoutMs, elapsedMs, error: errInfo(err) };
    }
  },
};

if (!server || !scenarios[scenario]) {
  process.stderr.write('usage: node client.js HOST:PORT ' + Object.keys(scenarios).join('|') + ' [ARG]\n');
  process.exit(64);
}

scenarios[scenario]().then(finish, err => finish({ ok: false, error: errInfo(err) }));
