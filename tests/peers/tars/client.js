// The @tars/rpc example proxy (NodeTarsProxy from the package's examples/rpc-tars/demo.1)
// calling TARS.NodeTarsServer.NodeTarsObj at HOST:PORT, for the Rust interop tests.
//
//   node client.js HOST PORT SCENARIO [ARG]
//
// Prints one line of JSON and exits 0 (a call that fails prints {"ok":false,"code":…}).
// Scenarios:
//   getUsrName [NAME]   one call; NAME defaults to "czzou"
//   getall              getall({id: 42, score: 99, name: "n"})
//   context             getUsrName with context {trace: "abc", user: "u1"}
//   many [N]            N (default 20) concurrent getUsrName calls on one connection
//   oneway              test() as a one-way call (packetType 1), then one getUsrName
//   timeout [MS]        getUsrName("slow:5000") with a MS (default 300) client timeout
//   tup [NAME]          getUsrName over TUP (iVersion 2) on a raw socket with @tars/stream's Tup
//   batch JSON          {"timeout": MS, "names": [...]}: getUsrName(name) for every name at once on
//                       one connection with a MS client timeout; prints {"event":"invoking"} first;
//                       the result has "results" in order; "ok" = all succeeded
//   paced N MS          N getUsrName calls on one connection, one every MS milliseconds (not
//                       waiting for replies: a fixed rate); prints {"event":"invoking"} first;
//                       the result counts the good ones and lists the first failures
// The process exits by itself after 20 s whatever happens.
'use strict';

const net = require('net');
const path = require('path');

const [host, portText, scenario = 'getUsrName', arg] = process.argv.slice(2);
const port = parseInt(portText, 10);
if (!host || !(port > 0)) {
  console.error('usage: node client.js HOST PORT SCENARIO [ARG]');
  process.exit(2);
}
setTimeout(() => { print({ ok: false, code: 'harness-timeout' }); process.exit(1); }, 20000).unref();

const demo = path.dirname(require.resolve('@tars/rpc/examples/rpc-tars/demo.1/client.node.proxy/NodeTarsProxy.js'));
const Tars = require('@tars/rpc');
const TarsStream = require('@tars/stream');
const Proxy = require(path.join(demo, 'NodeTarsProxy.js')).tars;
const SERVANT = 'TARS.NodeTarsServer.NodeTarsObj';

function print(v) { process.stdout.write(JSON.stringify(v) + '\n'); }

function proxy(timeout) {
  const prx = Tars.client.stringToProxy(Proxy.NodeTarsProxy, `${SERVANT}@tcp -h ${host} -p ${port} -t 60000`);
  prx.setTimeout(timeout || 5000);
  return prx;
}

function failure(e) {
  const err = (e && e.response && e.response.error) || {};
  return { ok: false, code: err.code, message: err.message };
}

function usr(r) {
  return { ok: true, ret: r.response.return, v1: r.response.arguments.sValue1, v2: r.response.arguments.sValue2 };
}

async function run() {
  switch (scenario) {
    case 'getUsrName':
      return proxy().getUsrName(arg || 'czzou').then(usr, failure);
    case 'getall': {
      const u = new Proxy.User_t();
      u.id = 42; u.score = 99; u.name = 'n';
      return proxy().getall(u).then(
        (r) => ({ ok: true, ret: r.response.return, id: r.response.arguments.stResult.id, level: r.response.arguments.stResult.iLevel }),
        failure);
    }
    case 'context':
      return proxy().getUsrName('ctx', { context: { trace: 'abc', user: 'u1' } }).then(
        (r) => Object.assign(usr(r), { context: r.response.context || null }), failure);
    case 'many': {
      const n = parseInt(arg || '20', 10);
      const prx = proxy();
      const results = await Promise.all([...Array(n).keys()].map((i) => prx.getUsrName('u' + i).then(usr, failure)));
      const wrong = results.filter((r, i) => !r.ok || r.v1 !== `OUT_u${i}_1`).length;
      return { ok: wrong === 0, calls: n, wrong };
    }
    case 'oneway': {
      const prx = proxy();
      const sent = await prx.test({ packetType: 1 }).then(() => 'resolved', (e) => failure(e).message);
      const after = await prx.getUsrName('after').then(usr, failure);
      return { ok: after.ok, oneway: sent, after };
    }
    case 'timeout':
      return proxy(parseInt(arg || '300', 10)).getUsrName('slow:5000').then(usr, failure);
    case 'tup':
      return tup(arg || 'czzou');
    case 'batch': {
      const spec = JSON.parse(arg || '{}');
      const prx = proxy(spec.timeout);
      print({ event: 'invoking', calls: (spec.names || []).length });
      const results = await Promise.all((spec.names || []).map((name) => {
        const start = Date.now();
        return prx.getUsrName(name).then(usr, failure)
          .then((r) => Object.assign(r, { elapsedMs: Date.now() - start }));
      }));
      return { ok: results.every((r) => r.ok), results };
    }
    case 'paced': {
      const [n, every] = (arg || '100 20').split(' ').map((x) => parseInt(x, 10));
      const prx = proxy(5000);
      await prx.getUsrName('warm').then(usr, failure);
      print({ event: 'invoking', calls: n });
      const calls = [];
      for (let i = 0; i < n; i++) {
        const name = 'p' + i;
        calls.push(prx.getUsrName(name).then(usr, failure)
          .then((r) => (r.ok && r.v1 === `OUT_${name}_1` ? r : Object.assign(r, { ok: false, i }))));
        await new Promise((resolve) => setTimeout(resolve, every));
      }
      const results = await Promise.all(calls);
      const bad = results.filter((r) => !r.ok);
      return { ok: bad.length === 0, n, good: n - bad.length, bad: bad.slice(0, 5) };
    }
    default:
      throw new Error('unknown scenario ' + scenario);
  }
}

function tup(name) {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let buf = Buffer.alloc(0);
    socket.on('connect', () => {
      const t = new TarsStream.Tup();
      t.tupVersion = TarsStream.Tup.TUP_COMPLEX;
      t.servantName = SERVANT;
      t.funcName = 'getUsrName';
      t._iRequestId = 123456;
      t.writeString('sUsrName', name);
      socket.write(t.encode().toNodeBuffer());
    });
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < buf.readUInt32BE(0)) return;
      const t = new TarsStream.Tup();
      t.decode(new TarsStream.BinBuffer(buf));
      socket.destroy();
      const code = t.getTarsResultCode();
      if (code !== 0) {
        resolve({ ok: false, code, message: t.getTarsResultDesc(), id: t._iRequestId });
      } else {
        resolve({ ok: true, ret: t.readInt32(''), v1: t.readString('sValue1'), v2: t.readString('sValue2'), id: t._iRequestId });
      }
    });
    socket.on('error', (e) => resolve({ ok: false, code: 'socket', message: e.message }));
  });
}

run().then(
  (r) => { print(r); process.exit(0); },
  (e) => { print({ ok: false, code: 'exception', message: String(e && e.stack || e) }); process.exit(1); });
