// Browser tests of publisherd's web UI against the real daemons (see harness.mjs).
// Run: cd tests/browser && npm install && BCAST_BUILD_ROOT=../../build npm test

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, startStack, Subscriberd } from './harness.mjs';

const admin = { name: 'admin', role: 'admin', password: 'correct horse 42' };
// A regional manager: region:jateng and single stores only.
const regional = { name: 'jateng', role: 'publisher', password: 'regional pass 7', targets: ['region:jateng', 'store:*'] };
const demoStore = { store: '1001', groups: ['region:jateng', 'format:minimarket'] };

const text = {
  sent: { en: 'Message sent', id: 'Pesan terkirim' },
  notSent: { en: 'Message not sent, check the connection', id: 'Pesan tidak terkirim, periksa koneksi' },
  invalidLogin: { en: 'Username and password do not match', id: 'Nama pengguna dan kata sandi tidak cocok' },
};


// Each test and hook is stopped after 5 minutes: a hung page fails its test rather than the suite
// (in the file, not `node --test-timeout`, which Debian 12's node 18 does not know).
const limited = { timeout: 300000 };

let stack;
let browser;

before(async () => {
  stack = await startStack({ users: [admin, regional], stores: [demoStore] });
  browser = await launchBrowser();
}, limited);

after(async () => {
  await browser?.close();
  await stack?.stop();
}, limited);

// A fresh browser profile (cookies, storage) per test, in English unless asked otherwise.
async function openPage(t, { locale = 'en-US', viewport = { width: 1360, height: 900 } } = {}) {
  const context = await browser.newContext({ locale, viewport, baseURL: stack.publisherd.baseUrl });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  t.after(async () => {
    await context.close();
  });
  page.problems = problems;
  return page;
}

function assertClean(page) {
  assert.deepEqual(page.problems, [], 'no script errors or CSP violations in the page');
}

async function login(page, user = admin) {
  await page.goto('/');
  await page.locator('#login-username').fill(user.name);
  await page.locator('#login-password').fill(user.password);
  await page.locator('#login-submit').click();
  await page.locator('#compose-form').waitFor();
}

function unique(prefix) {
  return `${prefix} ${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

async function fillMessage(page, { targets = ['all'], title, body = 'Mohon dibaca sebelum toko buka.' }) {
  for (const target of targets) {
    await page.locator('#target-input').fill(target);
    await page.locator('#target-input').press('Enter');
  }
  await page.locator('#title').fill(title);
  await page.locator('#body').fill(body);
}

// Clicks Send and waits for the request to finish; returns the notice that it left.
async function send(page) {
  await page.locator('#send').click();
  await page.waitForFunction(() => {
    const b = document.querySelector('#send');
    return b && !b.disabled;
  }, null, { timeout: 60000 });
  const notice = page.locator('#notices .notice').last();
  await notice.waitFor();
  return { kind: await notice.getAttribute('data-kind'), title: (await notice.locator('.notice__title').innerText()).trim(), notice };
}

test('a correct login opens the compose page', limited, async (t) => {
  const page = await openPage(t);
  await page.goto('/');
  await page.locator('#login-username').fill(admin.name);
  await page.locator('#login-password').fill(admin.password);
  await page.locator('#login-submit').click();
  await page.locator('#compose-form').waitFor();
  assert.match(page.url(), /#\/compose$/);
  assert.equal(await page.locator('h1').innerText(), 'New message');
  assert.equal(await page.locator('#user-name').innerText(), 'admin');
  assert.ok(await page.locator('#app-nav').isVisible(), 'navigation shown once signed in');
  assertClean(page);
});

test('a wrong login shows the invalid-credentials notice', limited, async (t) => {
  const page = await openPage(t);
  await page.goto('/');
  await page.locator('#login-username').fill(admin.name);
  await page.locator('#login-password').fill('not the password');
  await page.locator('#login-submit').click();
  const notice = page.locator('#notices .notice--error');
  await notice.waitFor();
  assert.equal((await notice.locator('.notice__title').innerText()).trim(), text.invalidLogin.en);
  assert.match(page.url(), /#\/login$/);
  assert.equal(await page.locator('#compose-form').count(), 0);
  assertClean(page);
});

test('a login that finds the password checks full shows the busy notice, in both languages', limited, async (t) => {
  // The daemon's side (503 "busy" while its hashing is full) is tested in
  // tests/daemons/test_abuse_logins.cpp; filling it from a browser is not deterministic, so here
  // the answer is the one publisherd sends then.
  const page = await openPage(t);
  let contentType = '';
  await page.route('**/api/v1/login', (route) => {
    contentType = route.request().headers()['content-type'] || '';
    return route.fulfill({
      status: 503,
      headers: { 'Content-Type': 'application/json', 'Retry-After': '1' },
      body: JSON.stringify({ error: 'busy', message: 'Too many logins are being checked right now. Try again in 1 s.' }),
    });
  });
  await page.goto('/');
  await page.locator('#login-username').fill(admin.name);
  await page.locator('#login-password').fill(admin.password);
  await page.locator('#login-submit').click();
  const notice = page.locator('#notices .notice--error .notice__title');
  await notice.waitFor();
  assert.equal((await notice.innerText()).trim(), 'Many sign-ins are being checked right now. Try again in a moment.');
  assert.equal(contentType, 'application/json', 'the login is sent as JSON (publisherd refuses anything else)');
  await page.locator('[data-lang="id"]').click();
  assert.equal((await notice.innerText()).trim(), 'Server sedang memeriksa banyak percobaan masuk. Coba lagi sebentar lagi.');
  assert.ok(!(await page.locator('#login-submit').isDisabled()), 'sign-in may be tried again at once');
  assertClean(page);
});

test('composing and sending shows "Message sent" and the envelope reaches Redis', limited, async (t) => {
  const sub = await stack.subscribe('*');
  const page = await openPage(t);
  await login(page);
  const title = unique('Harga baru minyak goreng');
  await fillMessage(page, { targets: ['all', 'region:jateng'], title });
  await page.locator('label[for="priority-high"]').click();
  const result = await send(page);
  assert.equal(result.kind, 'success', `notice: ${result.title}`);
  assert.equal(result.title, text.sent.en);

  const link = result.notice.locator('a.notice__link');
  const href = await link.getAttribute('href');
  assert.match(href, /^#\/messages\/.+/);
  const id = decodeURIComponent(href.replace('#/messages/', ''));
  assert.ok((await result.notice.innerText()).includes(id), 'the notice names the message id');

  // The live frame carries the envelope JSON as its last part (whatever comes before it).
  const { payload } = await sub.waitForMessage(title, 15000);
  const envelope = JSON.parse(payload.slice(payload.indexOf('{')));
  assert.equal(envelope.id, id);
  assert.equal(envelope.title, title);
  assert.equal(envelope.priority, 'high');
  assert.equal(envelope.sender, 'admin');
  assert.deepEqual([...envelope.targets].sort(), ['all', 'region:jateng']);

  // The form is cleared for the next message, but keeps its recipients.
  assert.equal(await page.locator('#title').inputValue(), '');
  assert.equal(await page.locator('#target-chips .chip').count(), 2);
  assertClean(page);
});

test('the language switch shows the notices in Bahasa Indonesia', limited, async (t) => {
  const page = await openPage(t);
  await page.goto('/');
  await page.locator('[data-lang="id"]').click();
  assert.equal(await page.locator('html').getAttribute('lang'), 'id');
  assert.equal(await page.locator('#login-submit').innerText(), 'Masuk');

  await page.locator('#login-username').fill('nobody');
  await page.locator('#login-password').fill('wrong');
  await page.locator('#login-submit').click();
  const notice = page.locator('#notices .notice--error .notice__title');
  await notice.waitFor();
  assert.equal((await notice.innerText()).trim(), text.invalidLogin.id);

  // A notice on screen follows the switch both ways.
  await page.locator('[data-lang="en"]').click();
  assert.equal((await notice.innerText()).trim(), text.invalidLogin.en);
  await page.locator('[data-lang="id"]').click();
  assert.equal((await notice.innerText()).trim(), text.invalidLogin.id);

  // Remembered across a reload, and used after login.
  await page.reload();
  assert.equal(await page.locator('html').getAttribute('lang'), 'id');
  await page.locator('#login-username').fill(admin.name);
  await page.locator('#login-password').fill(admin.password);
  await page.locator('#login-submit').click();
  await page.locator('#compose-form').waitFor();
  assert.equal(await page.locator('h1').innerText(), 'Pesan baru');
  await fillMessage(page, { targets: ['region:jateng'], title: unique('Promo akhir pekan') });
  const result = await send(page);
  assert.equal(result.title, text.sent.id);
  assertClean(page);
});

test('history lists a sent message, and its page shows the receipts', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  const title = unique('Info diskon sabun');
  await fillMessage(page, { targets: ['store:1001', 'region:jateng'], title });
  await page.locator('label[data-cat="discount_info"]').click();
  const result = await send(page);
  assert.equal(result.title, text.sent.en);

  await page.locator('.app-nav a[data-route="history"]').click();
  const row = page.locator('#history-table tbody tr', { hasText: title });
  await row.waitFor();
  assert.equal(await page.locator('#history-table tbody tr').first().locator('.msg-link').innerText(), title, 'newest first');
  assert.ok((await row.innerText()).includes('Discount info'), 'category label shown');
  await row.locator('.receipts').waitFor();
  assert.equal(await row.locator('progress').count() >= 2, true, 'receipt progress bars');

  await row.locator('a.msg-link').click();
  await page.locator('#receipt-stats .stat').first().waitFor();
  assert.equal(await page.locator('h1').innerText(), title);
  assert.match(page.url(), /#\/messages\//);
  assert.equal(await page.locator('.message-body').innerText(), 'Mohon dibaca sebelum toko buka.');

  if (stack.stores.length) {
    // A real store is running: its receipt reaches the table.
    await page.locator(`#receipt-table tr[data-store="${demoStore.store}"]`).waitFor({ timeout: 30000 });
  }
  assertClean(page);
});

test('the stores page renders', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  await page.locator('.app-nav a[data-route="stores"]').click();
  // The click only starts the route change; read the heading once the stores view has mounted.
  await page.locator('#stores-summary .summary__text').waitFor();
  assert.equal(await page.locator('.page--stores h1').innerText(), 'Stores');
  if (stack.stores.length) {
    const row = page.locator(`#stores-table tr[data-store="${demoStore.store}"]`);
    await row.waitFor({ timeout: 30000 });
    assert.ok((await row.innerText()).includes('region:jateng'));
  } else {
    t.diagnostic(`no store running (subscriberd ${Subscriberd.available() ? 'built' : 'not built'}); checking the list renders`);
    const rows = await page.locator('#stores-table tbody tr').count();
    if (rows === 0) assert.ok(await page.locator('.page--stores .empty__title').isVisible());
  }
  assertClean(page);
});

// Sends as the trusted local peer on publisherd's Unix socket; resolves with the envelope.
function sendAsPeer(targets, title) {
  const body = JSON.stringify({ targets, category: 'announcement', title, body: 'Isi pesan.' });
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: stack.publisherd.socket, path: '/api/v1/messages', method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(data)) : reject(new Error(`send: ${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a regional user sees only messages within its targets, in history and by link', limited, async (t) => {
  const national = await sendAsPeer(['all'], unique('Pengumuman nasional'));
  const central = await sendAsPeer(['region:jateng'], unique('Khusus Jateng'));
  const page = await openPage(t);
  await login(page, regional);
  await page.locator('.app-nav a[data-route="history"]').click();
  await page.locator('#history-table tbody tr', { hasText: central.title }).waitFor();
  assert.equal(await page.locator('#history-table tbody tr', { hasText: national.title }).count(), 0,
    'a message to everyone is outside region:jateng and store:*');
  await page.goto(`/#/messages/${encodeURIComponent(national.id)}`);
  await page.getByText('Message not found.').waitFor();
  assert.equal(await page.getByText(national.title).count(), 0, 'nothing of the message is shown');
  assertClean(page);
});

test('a regional user sending outside its targets sees the forbidden notice', limited, async (t) => {
  const page = await openPage(t);
  await login(page, regional);
  await fillMessage(page, { targets: ['all'], title: unique('Pengumuman nasional') });
  const result = await send(page);
  assert.equal(result.kind, 'error');
  assert.equal(result.title, 'Message not sent: you may not send to these recipients.');
  assertClean(page);
});

test('missing fields are highlighted and nothing is sent', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  await page.locator('#send').click();
  await page.locator('#notices .notice--error').waitFor();
  for (const field of ['targets', 'title', 'body']) {
    assert.ok(await page.locator(`#field-${field}.field--invalid`).isVisible(), `${field} marked`);
  }
  assert.equal(await page.locator('#title').getAttribute('aria-invalid'), 'true');
  assertClean(page);
});

test('repeated failed logins show the throttle notice with the wait', limited, async (t) => {
  const page = await openPage(t);
  await page.goto('/');
  // publisherd throttles per submitted name: this one is not a user, so admin is not locked.
  await page.locator('#login-username').fill('intruder');
  const title = page.locator('#notices .notice .notice__title');
  let shown = '';
  for (let i = 0; i < 12 && !/Too many/.test(shown); i++) {
    await page.locator('#login-password').fill(`guess ${i}`);
    await page.locator('#login-submit').click();
    await page.waitForFunction(() => document.querySelector('#login-submit')?.getAttribute('aria-busy') === 'false');
    shown = (await title.innerText()).trim();
  }
  assert.match(shown, /^Too many failed attempts\. Try again in \d+ seconds?\.$/);
  assert.ok(await page.locator('#login-submit').isDisabled(), 'sign-in waits out the lock');
  await page.waitForFunction(() => !document.querySelector('#login-submit').disabled, null, { timeout: 70000 });
  assertClean(page);
});

test('logging out returns to the login page and closes the session', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  await page.locator('#logout').click();
  await page.locator('#login-username').waitFor();
  await page.goto('/#/history');
  await page.locator('#login-username').waitFor();
  const res = await page.request.get('/api/v1/messages?limit=1');
  assert.equal(res.status(), 401, 'the session cookie no longer works');
});

test('screenshot of the compose page', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  await fillMessage(page, {
    targets: ['region:jateng', 'store:1001'],
    title: 'Harga baru minyak goreng 2L',
    body: 'Mulai Senin harga rak menjadi Rp 34.900.\nGanti label harga sebelum toko buka.',
  });
  await page.locator('label[for="priority-high"]').click();
  await page.locator('#require-ack').check();
  await page.evaluate(() => window.scrollTo(0, 0));
  const shotDir = process.env.BCAST_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'bcast-screens-'));
  fs.mkdirSync(shotDir, { recursive: true });
  const file = path.join(shotDir, 'compose.png');
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(fs.statSync(file).size > 10000);
  t.diagnostic(`screenshot: ${file}`);
  assertClean(page);
});

test('a store that refused a copy of a message shows as rejected, in English and Bahasa Indonesia', limited, async (t) => {
  if (!stack.stores.length) {
    t.skip(`no store running (subscriberd ${Subscriberd.available() ? 'built' : 'not built'})`);
    return;
  }
  const page = await openPage(t);
  await login(page);
  // A genuine message for another store...
  const title = unique('Hanya untuk toko 2002');
  await fillMessage(page, { targets: ['store:2002'], title });
  const result = await send(page);
  assert.equal(result.kind, 'success', `notice: ${result.title}`);
  const href = await result.notice.locator('a.notice__link').getAttribute('href');
  const id = decodeURIComponent(href.replace('#/messages/', ''));
  // ...copied by someone who can write to Redis into a channel store 1001 reads: its history and
  // a live frame ("<seq>:<stream id>:<message id>:<envelope>"). The store refuses it: the
  // signed targets do not name it.
  const res = await page.request.get(`/api/v1/messages/${encodeURIComponent(id)}`);
  assert.equal(res.status(), 200);
  const envelope = JSON.stringify((await res.json()).message);
  const entry = stack.redis.cli('XADD', 'bcast:{all}:history', '0-*', 'id', id, 'env', envelope);
  const seq = entry.replace(/^0-/, '');
  stack.redis.cli('PUBLISH', 'bcast:{all}:live', `${seq}:${entry}:${id}:${envelope}`);

  await page.goto(href);
  const row = page.locator(`#receipt-table tr[data-store="${demoStore.store}"][data-state="rejected"]`);
  await row.waitFor({ timeout: 30000 });
  assert.equal((await row.locator('.state').innerText()).trim(), 'Rejected (not signed by head office, or not for this store)');
  const note = page.locator('#rejected-note');
  assert.ok(await note.isVisible(), 'the page warns that a store refused a copy');
  assert.match(await note.innerText(), /^1 store refused a copy of this message/);
  assert.match((await page.locator('#receipt-stats [data-stage="rejected"]').innerText()).trim(), /^1\b/);

  // The history's receipt bars count it too.
  await page.locator('.app-nav a[data-route="history"]').click();
  const bar = page.locator('#history-table tbody tr', { hasText: title }).locator('.receipt--rejected');
  await bar.waitFor();
  assert.equal((await bar.locator('.receipt__label').innerText()).trim(), 'Rejected');
  assert.equal((await bar.locator('.receipt__count').innerText()).trim(), '1/1');

  await page.locator('[data-lang="id"]').click();
  assert.equal((await bar.locator('.receipt__label').innerText()).trim(), 'Ditolak');
  await page.goto(href);
  await row.waitFor();
  assert.equal((await row.locator('.state').innerText()).trim(), 'Ditolak (bukan tanda tangan kantor pusat, atau bukan untuk toko ini)');
  assert.match(await note.innerText(), /^1 toko menolak salinan pesan ini/);
  assertClean(page);
});

// Runs last: this Redis keeps nothing on disk, so a restart loses every key (history, presence,
// receipts) that the tests above look at.
test('with Redis stopped a send is refused, and works again once Redis is back', limited, async (t) => {
  const page = await openPage(t);
  await login(page);
  const title = unique('Jam buka toko');
  await fillMessage(page, { targets: ['store:1001'], title });

  await stack.redis.stop();
  t.after(() => stack.redis.start());
  const refused = await send(page);
  assert.equal(refused.kind, 'error');
  assert.equal(refused.title, text.notSent.en);
  // Nothing typed is lost.
  assert.equal(await page.locator('#title').inputValue(), title);
  assert.equal(await page.locator('#target-chips .chip').count(), 1);

  await stack.redis.start();
  const sub = await stack.subscribe('*');
  // publisherd reconnects by itself, with backoff: retry the same form until a deadline.
  const deadline = Date.now() + 60000;
  let last;
  for (;;) {
    last = await send(page);
    if (last.kind === 'success' || Date.now() > deadline) break;
    assert.equal(last.title, text.notSent.en, 'while reconnecting, only the not-sent notice');
    await page.waitForTimeout(1000);
  }
  assert.equal(last.title, text.sent.en, `sent within 60 s of Redis coming back\n${stack.logs()}`);
  await sub.waitForMessage(title, 15000);
  assertClean(page);
});
