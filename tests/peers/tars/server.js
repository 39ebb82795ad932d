// The @tars/rpc example servant (TARS.NodeTarsServer.NodeTarsObj, from the package's
// examples/rpc-tars/demo.1) on 127.0.0.1:PORT, for the Rust interop tests.
//
//   node server.js PORT [LIFETIME_MS]
//
// Prints "READY <port>" once listening. Exits on SIGTERM/SIGINT, and by itself after
// LIFETIME_MS (default 60 s) so that a crashed test never leaves it running.
//
// Methods (NodeTars.tars): getUsrName(name) returns 100002 with "OUT_<name>_1" and
// "OUT_<name>_2"; a name "slow:<ms>" answers after <ms> milliseconds; a name "fail:<code>"
// answers with the framework error <code> (sendErrorResponse). getall(User_t) returns 10000
// with Result_t { id = user.id, iLevel = user.score + 1 }. test() returns 7 (and nothing when
// called one-way). Each call's context is echoed back as the response context.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const port = parseInt(process.argv[2], 10);
const lifetime = parseInt(process.argv[3] || '60000', 10);
if (!(port > 0)) {
  console.error('usage: node server.js PORT [LIFETIME_MS]');
  process.exit(2);
}

const demo = path.dirname(require.resolve('@tars/rpc/examples/rpc-tars/demo.1/server.node.1/NodeTars.js'));
const Tars = require('@tars/rpc');
const TarsDemo = require(path.join(demo, 'NodeTars.js')).tars;

const Imp = TarsDemo.NodeTarsImp;
Imp.prototype.initialize = function () {};
Imp.prototype.getUsrName = function (current, sUsrName) {
  const ctx = current.getContext();
  if (ctx && ctx.size() > 0) current.setResponseContext(ctx.toObject());
  if (sUsrName.startsWith('slow:')) {
    setTimeout(() => current.sendResponse(100002, 'OUT_slow_1', 'OUT_slow_2'), parseInt(sUsrName.slice(5), 10));
    return;
  }
  if (sUsrName.startsWith('fail:')) {
    current.sendErrorResponse(parseInt(sUsrName.slice(5), 10), 'failed on request');
    return;
  }
  current.sendResponse(100002, 'OUT_' + sUsrName + '_1', 'OUT_' + sUsrName + '_2');
};
Imp.prototype.getall = function (current, stUser, stResult) {
  stResult.id = stUser.id;
  stResult.iLevel = stUser.score + 1;
  current.sendResponse(10000, stResult);
};
Imp.prototype.test = function (current) {
  if (current.getRequest().cPacketType !== 1) current.sendResponse(7);
};

const config = `<tars>
  <application>
    <server>
      app=TARS
      server=NodeTarsServer
      localip=127.0.0.1
      <TARS.NodeTarsServer.NodeTarsObjAdapter>
        endpoint=tcp -h 127.0.0.1 -p ${port} -t 60000
        maxconns=1000
        protocol=tars
        queuecap=10000
        queuetimeout=60000
        servant=TARS.NodeTarsServer.NodeTarsObj
        threads=1
      </TARS.NodeTarsServer.NodeTarsObjAdapter>
    </server>
    <client>
      async-invoke-timeout=60000
    </client>
  </application>
</tars>
`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tars-peer-'));
const file = path.join(dir, 'server.conf');
fs.writeFileSync(file, config);

const svr = new Tars.server();
svr.initialize(file, (server) => {
  server.addServant(Imp, server.Application + '.' + server.ServerName + '.NodeTarsObj');
});
Promise.resolve(svr.start()).then(() => {
  // The configuration has been read: remove it now, since a SIGKILL skips stop().
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch (e) { /* ignore */ }
  console.log('READY ' + port);
});

function stop() {
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch (e) { /* ignore */ }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, lifetime).unref();
setInterval(() => {}, 1000).unref();
