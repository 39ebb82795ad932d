'use strict';
// A small Dubbo 2.x provider for interop tests, built on hessian.js (a hessian2 library
// nobody on this project wrote). Serves com.example.DemoService:
//   sayHello(name, n) -> "hello <name> <n>"   echo(x) -> x   sleep(ms) -> "slept <ms>"
//   attachment(key) -> the request attachment `key`   boom() -> an exception response
// Unknown services answer status 70 (SERVICE_ERROR) with a message, as a Java provider does.
// Prints `READY <port>`, exits on SIGTERM, on stdin closing, and after a bounded lifetime.
//
// Usage: node provider.js [port] [lifetimeMs]   (env IGNORE_STDIN=1: do not exit when stdin closes)
const net = require('net');
const hessian = require('hessian.js');

const port = Number(process.argv[2] || 0);
const lifetimeMs = Number(process.argv[3] || 120000);
const SERVICE = 'com.example.DemoService';

function header(flags, status, idBytes, bodyLen) {
  const h = Buffer.alloc(16);
  h[0] = 0xda;
  h[1] = 0xbb;
  h[2] = flags;
  h[3] = status;
  idBytes.copy(h, 4);
  h.writeUInt32BE(bodyLen, 12);
  return h;
}

function countParams(desc) {
  let n = 0;
  for (let i = 0; i < desc.length; i++) {
    const c = desc[i];
    if (c === '[') continue;
    if (c === 'L') i = desc.indexOf(';', i);
    n++;
  }
  return n;
}

// Java's Version.isSupportResponseAttachment: 2.0.2 <= version <= 2.0.99.
function supportsResponseAttachments(version) {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version || '');
  if (!m) return false;
  const v = Number(m[1]) * 1000000 + Number(m[2]) * 10000 + Number(m[3]) * 100;
  return v >= 2000200 && v <= 2009900;
}

function encodeValues(values) {
  const enc = new hessian.EncoderV2();
  for (const v of values) enc.write(v);
  return enc.get();
}

function javaException(message) {
  return {
    $class: 'java.lang.RuntimeException',
    $: {
      detailMessage: { $class: 'java.lang.String', $: message },
      stackTrace: [],
      cause: null,
    },
  };
}

function reply(socket, idBytes, status, body) {
  socket.write(Buffer.concat([header(0x02, status, idBytes, body.length), body]));
}

function handleRequest(socket, flags, idBytes, body) {
  const twoWay = (flags & 0x40) !== 0;
  if (flags & 0x20) {
    // Event: answer a two-way heartbeat with an event response, status OK, body null.
    if (twoWay) {
      const nul = encodeValues([null]);
      socket.write(Buffer.concat([header(0x22, 20, idBytes, nul.length), nul]));
    }
    return;
  }
  if ((flags & 0x1f) !== 2) {
    if (twoWay) reply(socket, idBytes, 40, encodeValues(['only hessian2 is served']));
    return;
  }
  const dec = new hessian.DecoderV2(body);
  const dubboVersion = dec.read();
  const path = dec.read();
  const version = dec.read();
  const method = dec.read();
  const desc = dec.read() || '';
  const args = [];
  for (let i = 0; i < countParams(desc); i++) args.push(dec.read());
  const attachments = dec.byteBuffer.position() < body.length ? dec.read() || {} : {};
  const withAttachments = supportsResponseAttachments(dubboVersion);
  const send = (kind, value) => {
    if (!twoWay) return;
    const flag = { value: 1, exception: 0 }[kind] + (withAttachments ? 3 : 0);
    const values = [flag, value];
    if (withAttachments) values.push({ dubbo: '2.0.2' });
    reply(socket, idBytes, 20, encodeValues(values));
  };
  if (path !== SERVICE) {
    if (twoWay) {
      const msg = `Not found exported service: ${path}:${version} in [${SERVICE}], may be version or group mismatch`;
      reply(socket, idBytes, 70, encodeValues([msg]));
    }
    return;
  }
  switch (method) {
    case 'sayHello':
      return send('value', `hello ${args[0]} ${args[1]}`);
    case 'echo':
      return send('value', args[0]);
    case 'attachment':
      return send('value', attachments[args[0]] === undefined ? null : attachments[args[0]]);
    case 'sleep':
      return setTimeout(() => send('value', `slept ${args[0]}`), Number(args[0]));
    case 'boom':
      return send('exception', javaException('boom'));
    default:
      return send('exception', javaException(`No such method ${method} in service ${SERVICE}`));
  }
}

const server = net.createServer((socket) => {
  let buf = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 16) {
      if (buf[0] !== 0xda || buf[1] !== 0xbb) {
        socket.destroy();
        return;
      }
      const len = buf.readUInt32BE(12);
      if (buf.length < 16 + len) break;
      const flags = buf[2];
      const idBytes = Buffer.from(buf.subarray(4, 12));
      const body = Buffer.from(buf.subarray(16, 16 + len));
      buf = buf.subarray(16 + len);
      if (flags & 0x80) {
        try {
          handleRequest(socket, flags, idBytes, body);
        } catch (e) {
          if (flags & 0x40) reply(socket, idBytes, 40, encodeValues([`bad request: ${e.message}`]));
        }
      }
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// IGNORE_STDIN=1: a parent that cannot hold stdin open (stdin is /dev/null) relies on SIGTERM,
// SIGKILL and the lifetime instead.
if (process.env.IGNORE_STDIN !== '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
setTimeout(() => process.exit(0), lifetimeMs).unref();
