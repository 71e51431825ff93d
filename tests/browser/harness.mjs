// Runs the real daemons for the browser tests: a private redis-server, a users file made with
// bcastctl, and publisherd serving the web UI from the source tree. Everything lives in one temp
// dir and on free loopback ports, and stop() ends every process it started.
//
// Environment:
//   BCAST_BUILD_ROOT   meson build dir (default: <repo>/build)
//   BCAST_SOURCE_ROOT  source tree (default: <repo>)
//   BCAST_CHROMIUM     browser binary (default: /usr/bin/chromium)
//   BCAST_KEEP_TMP=1   keep the temp dir (logs, config, users file) after the run

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceRoot = path.resolve(process.env.BCAST_SOURCE_ROOT || path.join(here, '..', '..'));
export const buildRoot = path.resolve(process.env.BCAST_BUILD_ROOT || path.join(sourceRoot, 'build'));
export const publisherdPath = path.join(buildRoot, 'daemons', 'publisherd', 'publisherd');
export const bcastctlPath = path.join(buildRoot, 'daemons', 'bcastctl', 'bcastctl');
export const subscriberdPath = path.join(buildRoot, 'daemons', 'subscriberd', 'subscriberd');
export const webRoot = path.join(sourceRoot, 'daemons', 'publisherd', 'web');
export const chromiumPath = process.env.BCAST_CHROMIUM || '/usr/bin/chromium';

const startTimeoutMs = Number(process.env.BCAST_START_TIMEOUT_MS || 30000);

export const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function requireExecutable(file, what) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${what} not found at ${file}: build it first (./dev build), or set BCAST_BUILD_ROOT to the meson build dir`);
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // Not in this dir.
    }
  }
  throw new Error(`${name} not found on PATH (Debian package: ${name === 'chromium' ? 'chromium' : 'redis-server / redis-tools'})`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// A child process whose output goes to a log file and is also kept in memory for waiting on.
class Child {
  constructor(name, command, args, { logFile, env, stdin } = {}) {
    this.name = name;
    this.output = '';
    this.exited = false;
    this.exitCode = null;
    this.log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
    this.proc = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) this.proc.stdin.end(stdin);
    const take = (chunk) => {
      const text = chunk.toString();
      this.output += text;
      if (this.output.length > 4 * 1024 * 1024) this.output = this.output.slice(-2 * 1024 * 1024);
      this.log?.write(text);
      this.wake?.();
    };
    this.proc.stdout.on('data', take);
    this.proc.stderr.on('data', take);
    this.done = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code ?? signal;
        this.wake?.();
        resolve(this.exitCode);
      });
      this.proc.on('error', (err) => {
        this.output += `\n[spawn error: ${err.message}]\n`;
        this.exited = true;
        this.exitCode = -1;
        this.wake?.();
        resolve(-1);
      });
    });
  }

  tail(lines = 40) {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  // Resolves when the output contains `text` (a string or RegExp); rejects on exit or timeout.
  async waitForOutput(text, timeoutMs, { from = 0 } = {}) {
    const deadline = Date.now() + timeoutMs;
    const found = () => (typeof text === 'string' ? this.output.indexOf(text, from) >= 0 : text.test(this.output.slice(from)));
    while (!found()) {
      if (this.exited) throw new Error(`${this.name} exited (${this.exitCode}) before printing ${text}:\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${text} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.min(left, 200));
      });
      this.wake = null;
    }
  }

  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (this.exited) return this.exitCode;
    this.proc.kill(signal);
    const timer = setTimeout(() => {
      if (!this.exited) this.proc.kill('SIGKILL');
    }, graceMs);
    const code = await this.done;
    clearTimeout(timer);
    this.log?.end();
    return code;
  }
}

export class RedisServer {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.child = null;
    this.starts = 0;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    if (this.child && !this.child.exited) return;
    this.starts += 1;
    this.child = new Child('redis-server', findOnPath('redis-server'), [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, '--daemonize', 'no', '--logfile', '',
    ], { logFile: path.join(this.dir, 'redis.log') });
    await this.child.waitForOutput('Ready to accept connections', startTimeoutMs);
  }

  async stop() {
    if (this.child) await this.child.stop();
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  // redis-cli ARGS... run to its end: its output, trimmed (a test writing to Redis directly).
  cli(...args) {
    const r = spawnSync(findOnPath('redis-cli'), ['-h', '127.0.0.1', '-p', String(this.port), ...args], { encoding: 'utf8', timeout: 10000 });
    if (r.status !== 0 || /^ERR/.test(r.stdout)) throw new Error(`redis-cli ${args[0]} failed (${r.status}): ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  }

  // `redis-cli PSUBSCRIBE <pattern>`: every live message on the server, as raw lines.
  async subscribe(pattern = '*') {
    const sub = new RedisSubscriber(this.port, pattern, path.join(this.dir, 'subscriber.log'));
    await sub.ready();
    return sub;
  }
}

export class RedisSubscriber {
  constructor(port, pattern, logFile) {
    this.pattern = pattern;
    this.child = new Child('redis-cli PSUBSCRIBE', findOnPath('redis-cli'), [
      '-h', '127.0.0.1', '-p', String(port), 'PSUBSCRIBE', pattern,
    ], { logFile });
  }

  async ready() {
    // With stdout not a terminal, redis-cli prints each reply element on its own line:
    // "psubscribe\n<pattern>\n1" once subscribed, then "pmessage\n<pattern>\n<channel>\n<payload>".
    await this.child.waitForOutput('psubscribe', startTimeoutMs);
  }

  get output() {
    return this.child.output;
  }

  // The payload line of the first message whose payload contains `text`.
  async waitForMessage(text, timeoutMs = 15000) {
    await this.child.waitForOutput(text, timeoutMs);
    const lines = this.child.output.split('\n');
    const i = lines.findIndex((l) => l.includes(text));
    return { channel: lines[i - 1], payload: lines[i] };
  }

  stop() {
    return this.child.stop();
  }
}

// A message signing key pair made by bcastctl in dir: publisherd signs with signingKey, stores
// trust publicKey.
export function makeKeyPair(dir) {
  requireExecutable(bcastctlPath, 'bcastctl');
  const r = spawnSync(bcastctlPath, ['key', 'gen', '--out', dir], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`bcastctl key gen --out ${dir} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return { signingKey: path.join(dir, 'signing.key'), publicKey: path.join(dir, 'signing.pub') };
}

export function addUser(usersFile, { name, role = 'admin', password, targets = [] }) {
  requireExecutable(bcastctlPath, 'bcastctl');
  const args = ['user', 'add', '--users', usersFile, name, '--role', role, '--password-stdin'];
  for (const t of targets) args.push('--targets', t);
  const r = spawnSync(bcastctlPath, args, { input: `${password}\n`, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) {
    throw new Error(`bcastctl ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
}

async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export class Publisherd {
  constructor(dir, { redis, usersFile, port }) {
    this.dir = dir;
    this.redis = redis;
    this.usersFile = usersFile;
    this.port = port;
    this.socket = path.join(dir, 'publisherd.sock');
    this.configFile = path.join(dir, 'publisherd.json');
    // Made at start: publisherd signs with keys.signingKey; stores trust keys.publicKey.
    this.keys = null;
    this.child = null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    requireExecutable(publisherdPath, 'publisherd');
    this.keys ??= makeKeyPair(path.join(this.dir, 'keys'));
    fs.writeFileSync(this.configFile, `${JSON.stringify({ web_root: webRoot, signing_key: this.keys.signingKey }, null, 2)}\n`);
    this.child = new Child('publisherd', publisherdPath, [
      '--config', this.configFile,
      '--redis', this.redis.url,
      '--http', `127.0.0.1:${this.port}`,
      '--users', this.usersFile,
      '--unix-socket', this.socket,
    ], { logFile: path.join(this.dir, 'publisherd.log') });
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (this.child.exited) throw new Error(`publisherd exited (${this.child.exitCode}) during start:\n${this.child.tail()}`);
      if (await httpStatus(`${this.baseUrl}/api/v1/health`) === 200) return;
      if (Date.now() > deadline) throw new Error(`publisherd: /api/v1/health not 200 within ${startTimeoutMs} ms:\n${this.child.tail()}`);
      await sleep(100);
    }
  }

  health() {
    return httpStatus(`${this.baseUrl}/api/v1/health`);
  }

  async stop() {
    if (this.child) await this.child.stop();
  }
}

// One store PC, when subscriberd is built: a jsonl sink records what it shows.
export class Subscriberd {
  constructor(dir, { redis, store, groups = [], trustedKey }) {
    this.dir = path.join(dir, `store-${store}`);
    fs.mkdirSync(this.dir, { recursive: true });
    this.redis = redis;
    this.trustedKey = trustedKey;  // the publisher's public key file
    this.store = store;
    this.groups = groups;
    this.jsonl = path.join(this.dir, 'shown.jsonl');
    this.child = null;
  }

  static available() {
    try {
      fs.accessSync(subscriberdPath, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  start() {
    const args = ['--redis', this.redis.url, '--store', this.store, '--state-dir', this.dir, '--sink', `jsonl:${this.jsonl}`,
      '--trusted-key', this.trustedKey];
    for (const g of this.groups) args.push('--group', g);
    this.child = new Child(`subscriberd ${this.store}`, subscriberdPath, args, { logFile: path.join(this.dir, 'subscriberd.log') });
  }

  async stop() {
    if (this.child) await this.child.stop();
  }
}

// The whole stack. users: [{name, role, password, targets}]; stores: [{store, groups}] are run
// only when subscriberd is built.
export async function startStack({ users, stores = [] } = {}) {
  requireExecutable(publisherdPath, 'publisherd');
  requireExecutable(bcastctlPath, 'bcastctl');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bcast-browser-'));
  const stack = {
    dir,
    redis: new RedisServer(dir, await freePort()),
    publisherd: null,
    stores: [],
    subscribers: [],
    usersFile: path.join(dir, 'users.json'),
    async subscribe(pattern = '*') {
      const sub = await stack.redis.subscribe(pattern);
      stack.subscribers.push(sub);
      return sub;
    },
    logs() {
      const tail = (name) => {
        try {
          return fs.readFileSync(path.join(dir, name), 'utf8').split('\n').slice(-40).join('\n');
        } catch {
          return '';
        }
      };
      return `--- publisherd.log (tail)\n${tail('publisherd.log')}\n--- redis.log (tail)\n${tail('redis.log')}`;
    },
    async stop({ keep = process.env.BCAST_KEEP_TMP === '1' } = {}) {
      await Promise.all(stack.subscribers.map((s) => s.stop()));
      await Promise.all(stack.stores.map((s) => s.stop()));
      if (stack.publisherd) await stack.publisherd.stop();
      await stack.redis.stop();
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const u of users) addUser(stack.usersFile, u);
    await stack.redis.start();
    stack.publisherd = new Publisherd(dir, { redis: stack.redis, usersFile: stack.usersFile, port: await freePort() });
    await stack.publisherd.start();
    if (stores.length && Subscriberd.available()) {
      for (const s of stores) {
        const sd = new Subscriberd(dir, { redis: stack.redis, trustedKey: stack.publisherd.keys.publicKey, ...s });
        sd.start();
        stack.stores.push(sd);
      }
    }
  } catch (err) {
    await stack.stop({ keep: true }).catch(() => {});
    err.message += `\n(temp dir kept: ${dir})`;
    throw err;
  }
  return stack;
}

export async function launchBrowser() {
  requireExecutable(chromiumPath, 'Chromium (Debian package chromium)');
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
}
