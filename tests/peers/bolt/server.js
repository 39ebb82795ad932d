'use strict';

// A real sofa-rpc-node Bolt provider (no registry) for interop tests.
// Usage: node server.js [PORT]   (or PORT=..., 0 = pick a free port)
// Prints exactly one line "READY <port>" on stdout once listening.
// Env: HOST (default 127.0.0.1), MAX_LIFETIME_MS (default 120000).

const net = require('net');
const { RpcServer } = require('sofa-rpc-node').server;

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.argv[2] || process.env.PORT || 0);
const MAX_LIFETIME_MS = Number(process.env.MAX_LIFETIME_MS || 120000);
const INTERFACE = 'com.alipay.sofa.rpc.quickstart.HelloService';

// The library logs to its logger; keep stdout for the READY line only.
const noop = () => {};
const logger = { debug: noop, info: noop, warn: noop, error: noop };

// RpcServer#_startServer (lib/server/server.js:161) listens on all interfaces
// and has no host option, so bind to loopback ourselves.
class LoopbackRpcServer extends RpcServer {
  _startServer(port) {
    const server = net.createServer();
    server.once('error', err => { this.emit('error', err); });
    server.on('connection', socket => { this._handleSocket(socket); });
    server.listen(port, HOST);
    return server;
  }
}

// Never outlive a test run, even if the parent forgets us.
setTimeout(() => process.exit(3), MAX_LIFETIME_MS);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

async function main() {
  const server = new LoopbackRpcServer({ logger, port: PORT });
  server.on('error', noop); // errors are answered to the caller; nothing to log here
  // Service id becomes "<interface>:1.0" (server default version), which is what
  // the consumer puts in SofaRequest.targetServiceUniqueName.
  // Methods must be `async` functions: lib/server/service.js:154 rejects others.
  server.addService({ interfaceName: INTERFACE }, {
    async sayHello(name) { return 'hello ' + name + ' !'; },
    async echo(x) { return x; },
    async sleep(ms) {
      await new Promise(resolve => setTimeout(resolve, Number(ms)));
      return 'slept';
    },
    async boom() { throw new Error('boom'); },
  });
  await server.start();
  process.stdout.write('READY ' + server._servers[0].address().port + '\n');
}

main().catch(err => {
  process.stderr.write('server failed: ' + (err && err.stack || err) + '\n');
  process.exit(1);
});
