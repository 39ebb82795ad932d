'use strict';

// Raw Bolt frames from sofa-bolt-node's own encoder/decoder.
//
//   node frames.js                      print "<label> <hex>" for every frame kind and variant
//   node frames.js check [DIR]          compare those with DIR/<label>.hex (default /work/shared/wire/vectors)
//   node frames.js send HOST PORT VARIANT [ID]
//       VARIANT = v1 | v2 | v2crc. Sends sayHello('peter') to
//       com.alipay.sofa.rpc.quickstart.HelloService:1.0 (hessian2) over a plain socket and prints
//       the decoded reply as JSON. Exit 0: status 0 and "hello peter !"; 1: a reply with our id
//       arrived but is not that; 2: no decodable reply within 10 s.

const fs = require('fs');
const net = require('net');
const path = require('path');
const bolt = require('sofa-bolt-node');

const SERVICE = 'com.alipay.sofa.rpc.quickstart.HelloService:1.0';
const VARIANTS = {
  // Switches read by lib/protocol/index.js:82 (protocolType) and lib/protocol/v2.js:58-68
  // (boltVersion goes to the ver1 byte, crcEnable to the switch byte and the trailing CRC32).
  v1: { protocolType: 'bolt', boltVersion: 1, crcEnable: false },
  v2: { protocolType: 'bolt2', boltVersion: 1, crcEnable: false },
  v2crc: { protocolType: 'bolt2', boltVersion: 2, crcEnable: true },
};
const LABEL = { v1: 'bolt-v1', v2: 'bolt-v2', v2crc: 'bolt-v2-crc' };

function encoderFor(variant) {
  const v = VARIANTS[variant];
  const enc = bolt.encoder();
  enc.protocolType = v.protocolType;
  enc.boltVersion = v.boltVersion;
  enc.crcEnable = v.crcEnable;
  return enc;
}

// The encoder is a Transform: each write pushes one frame to its readable side synchronously
// (write callbacks are deferred to a later tick), so read the frame right after writing it.
function capture(enc, write) {
  write();
  const out = enc.read();
  if (!out) throw new Error('encoder produced no frame');
  return out;
}

function sayHello(oneway) {
  return { serverSignature: SERVICE, methodName: 'sayHello', args: [ 'peter' ], timeout: 3000, oneway };
}

// The shared error vectors embed the JS stack of the process that made them (run from
// /tmp/mycheck); replaying that stack makes the error frames byte-comparable too.
function vectorError(variant) {
  const lib = '/tmp/mycheck/node_modules/sofa-bolt-node/lib/';
  const err = new Error('boom');
  err.stack = [
    'Error: boom',
    `RpcResponseCommand.serializeContent (${lib}protocol/rpc_res_cmd.js:68:15)`,
    variant === 'v1' ? `exports.encode (${lib}protocol/v1.js:80:7)` : `exports.encode (${lib}protocol/v2.js:88:7)`,
    `exports.encode (${lib}protocol/index.js:${variant === 'v1' ? 85 : 83}:12)`,
    `exports.responseEncode (${lib}protocol/index.js:40:18)`,
    `ProtocolEncoder._responseEncode (${lib}encoder.js:204:26)`,
    `ProtocolEncoder._writePacket (${lib}encoder.js:164:43)`,
    `ProtocolEncoder.writeResponse (${lib}encoder.js:105:10)`,
    '/tmp/mycheck/genbolt2.js:42:9',
    '/tmp/mycheck/genbolt2.js:12:5',
    'new Promise (<anonymous>)',
  ].join('\n    at ');
  return err;
}

function allFrames() {
  const frames = [];
  for (const variant of Object.keys(VARIANTS)) {
    const v = VARIANTS[variant];
    const enc = encoderFor(variant);
    // What a decoded request looks like to writeResponse (see lib/encoder.js:190-205).
    const decodedReq = id => ({
      packetId: id,
      options: Object.assign({ codecType: 'hessian2', timeout: 3000 }, v),
      meta: { start: Date.now() },
      data: { serverSignature: SERVICE, methodName: 'sayHello' },
    });
    const p = LABEL[variant];
    frames.push([ p + '-request', capture(enc, () => enc.writeRequest(7, sayHello(false))) ]);
    frames.push([ p + '-oneway-request', capture(enc, () => enc.writeRequest(8, sayHello(true))) ]);
    frames.push([ p + '-heartbeat', capture(enc, () => enc.writeHeartbeat(9, { timeout: 3000 })) ]);
    frames.push([ p + '-heartbeat-ack', capture(enc, () => enc.writeHeartbeatAck(
      { packetId: 9, options: Object.assign({ codecType: 'hessian2' }, v) })) ]);
    frames.push([ p + '-response', capture(enc, () => enc.writeResponse(decodedReq(7),
      { isError: false, errorMsg: null, appResponse: 'hello peter !', responseProps: null })) ]);
    frames.push([ p + '-response-error', capture(enc, () => enc.writeResponse(decodedReq(7),
      { isError: true, errorMsg: 'boom', appResponse: vectorError(variant) })) ]);
  }
  return frames;
}

function print() {
  for (const [ label, buf ] of allFrames()) {
    process.stdout.write(label + ' ' + buf.toString('hex') + '\n');
  }
}

function check(dir) {
  let bad = 0;
  for (const [ label, buf ] of allFrames()) {
    const file = path.join(dir, label + '.hex');
    if (!fs.existsSync(file)) {
      process.stdout.write(JSON.stringify({ label, result: 'no-vector' }) + '\n');
      continue;
    }
    const want = fs.readFileSync(file, 'utf8').trim();
    const same = want === buf.toString('hex');
    if (!same) bad++;
    process.stdout.write(JSON.stringify({ label, result: same ? 'same' : 'DIFFERENT' }) + '\n');
  }
  process.exit(bad ? 1 : 0);
}

function send(host, port, variant, id) {
  if (!VARIANTS[variant]) {
    process.stderr.write('VARIANT must be one of ' + Object.keys(VARIANTS).join(', ') + '\n');
    process.exit(64);
  }
  const done = (code, obj) => {
    process.stdout.write(JSON.stringify(Object.assign({ variant, requestId: id }, obj)) + '\n');
    process.exit(code);
  };
  setTimeout(() => done(2, { error: 'no valid response within 10 s' }), 10000);

  const enc = encoderFor(variant);
  const request = capture(enc, () => enc.writeRequest(id, sayHello(false)));
  // The decoder has no version setting: it picks v1/v2 from each frame's first byte and checks
  // the CRC when the switch byte says so (lib/decoder.js:58-72, lib/protocol/v2.js:106-115).
  const decoder = bolt.decoder();
  let raw = Buffer.alloc(0);
  decoder.on('error', err => done(2, { error: err.name + ': ' + err.message, responseHex: raw.toString('hex') }));
  decoder.on('response', res => {
    if (res.packetId !== id) return;
    // The decoder drops the status field, so read it from the frame (v1 offset 10, v2 offset 12).
    const status = raw[0] === 2 ? raw.readUInt16BE(12) : raw.readUInt16BE(10);
    const data = res.data || {};
    const error = data.error ? { name: data.error.name, message: data.error.message } : null;
    const ok = status === 0 && !error && data.appResponse === 'hello peter !';
    done(ok ? 0 : 1, {
      status,
      protocol: res.options,
      className: res.className,
      appResponse: data.appResponse,
      responseProps: data.responseProps,
      error,
      responseHex: raw.length <= 4096 ? raw.toString('hex') : undefined,
    });
  });

  const socket = net.connect(Number(port), host, () => socket.write(request));
  socket.on('data', chunk => {
    raw = Buffer.concat([ raw, chunk ]);
    decoder.write(chunk);
  });
  socket.on('error', err => done(2, { error: err.code || err.message }));
  socket.on('close', () => done(2, { error: 'connection closed before a response', responseHex: raw.toString('hex') }));
}

const [ mode, ...rest ] = process.argv.slice(2);
if (!mode) print();
else if (mode === 'check') check(rest[0] || '/work/shared/wire/vectors');
else if (mode === 'send' && rest.length >= 3) send(rest[0], rest[1], rest[2], Number(rest[3] || 1));
else {
  process.stderr.write('usage: node frames.js [check [DIR] | send HOST PORT v1|v2|v2crc [ID]]\n');
  process.exit(64);
}
