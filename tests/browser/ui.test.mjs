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
async function openPage(t, { locale = 'en-US', viewport = { width: 1360, height: 900 }, timezoneId } = {}) {
  const context = await browser.newContext({ locale, viewport, timezoneId, baseURL: stack.publisherd.baseUrl });
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

// A request as the trusted local peer on publisherd's Unix socket: {status, json}.
function asPeer(method, urlPath, payload) {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  const headers = payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: stack.publisherd.socket, path: urlPath, method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => {
        let json = null;
        try {
          json = data ? JSON.parse(data) : null;
        } catch {
          json = { raw: data };
        }
        resolve({ status: res.statusCode, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Sends as the peer; resolves with the envelope. `extra` adds members (priority, send_at, ...).
async function sendAsPeer(targets, title, extra = {}) {
  const { status, json } = await asPeer('POST', '/api/v1/messages', { targets, category: 'announcement', title, body: 'Isi pesan.', ...extra });
  const wanted = extra.send_at ? 202 : 201;
  if (status !== wanted) throw new Error(`send: ${status} ${JSON.stringify(json)} (wanted ${wanted})`);
  return json;
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

// Recall, correction and scheduling (issue 17) ---------------------------------------------------

async function messageJson(page, id) {
  const res = await page.request.get(`/api/v1/messages/${encodeURIComponent(id)}`);
  assert.equal(res.status(), 200, `GET /api/v1/messages/${id}`);
  return res.json();
}

async function scheduledIds(page) {
  const res = await page.request.get('/api/v1/scheduled');
  assert.equal(res.status(), 200, 'GET /api/v1/scheduled');
  return (await res.json()).scheduled.map((m) => m.id);
}

// The ids of every POST to /api/v1/messages the page makes, as they happen.
function watchSends(page) {
  const posts = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/v1/messages') posts.push(req.postDataJSON());
  });
  return posts;
}

function noticeTitle(page) {
  return page.locator('#notices .notice .notice__title').last();
}

test('recalling a message asks first, then the page shows who recalled it and when, in English and Bahasa Indonesia', limited, async (t) => {
  const message = await sendAsPeer(['store:1001'], unique('Harga salah'));
  const page = await openPage(t);
  await login(page);
  await page.goto(`/#/messages/${encodeURIComponent(message.id)}`);
  const recall = page.locator('#recall');
  await recall.waitFor();
  assert.equal((await recall.innerText()).trim(), 'Recall');
  assert.equal(await page.locator('.badge--recalled').count(), 0, 'not recalled yet');

  // The confirmation is a modal dialog in the page; "Keep it" recalls nothing.
  await recall.click();
  const dialog = page.getByRole('dialog', { name: 'Recall this message?' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), new RegExp(`Stores that have not shown “${message.title}” yet will never show it`));
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'cancel', 'the safe choice has the focus');
  await dialog.getByRole('button', { name: 'Keep it' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await messageJson(page, message.id)).recall, null, 'Keep it recalls nothing');
  assert.ok(await recall.isVisible());

  // Escape closes it too, without recalling.
  await recall.click();
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await messageJson(page, message.id)).recall, null, 'Escape recalls nothing');

  await recall.click();
  await dialog.getByRole('button', { name: 'Recall message' }).click();
  await page.locator('#notices .notice--success').waitFor();
  assert.equal((await noticeTitle(page).innerText()).trim(), 'Message recalled');
  const badge = page.locator('.detail__message .badge--recalled');
  await badge.waitFor();
  assert.equal((await badge.innerText()).trim(), 'Recalled');
  assert.match((await page.locator('#recall-note').innerText()).trim(), /^Recalled by admin, .+\.$/);
  assert.ok(!(await recall.isVisible()), 'a recalled message offers no second recall');
  assert.ok(await page.locator('#correct').isVisible(), 'it may still be corrected');

  const after = await messageJson(page, message.id);
  assert.equal(after.recall?.by, 'admin');
  assert.equal(after.recall?.superseded_by ?? null, null);

  // The same page in Bahasa Indonesia.
  await page.locator('[data-lang="id"]').click();
  assert.equal((await badge.innerText()).trim(), 'Ditarik');
  assert.match((await page.locator('#recall-note').innerText()).trim(), /^Ditarik oleh admin, .+\.$/);
  assert.equal((await page.locator('#correct').innerText()).trim(), 'Koreksi');

  // History marks it recalled, in both languages.
  await page.locator('.app-nav a[data-route="history"]').click();
  const row = page.locator('#history-table tbody tr', { hasText: message.title });
  await row.waitFor();
  assert.equal(await row.getAttribute('data-recalled'), 'true');
  assert.equal((await row.locator('.badge--recalled').innerText()).trim(), 'Ditarik');
  await page.locator('[data-lang="en"]').click();
  assert.equal((await row.locator('.badge--recalled').innerText()).trim(), 'Recalled');
  assertClean(page);
});

test('a store that showed a recalled message reports it recalled: its row, the count, in English and Bahasa Indonesia', limited, async (t) => {
  if (!stack.stores.length) {
    t.skip(`no store running (subscriberd ${Subscriberd.available() ? 'built' : 'not built'})`);
    return;
  }
  const message = await sendAsPeer(['store:1001'], unique('Jadwal piket salah'));
  const page = await openPage(t);
  await login(page);
  await page.goto(`/#/messages/${encodeURIComponent(message.id)}`);
  await page.locator(`#receipt-table tr[data-store="${demoStore.store}"][data-state="displayed"]`).waitFor({ timeout: 30000 });
  await page.locator('#recall').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Recall message' }).click();
  await page.locator('.detail__message .badge--recalled').waitFor();

  // The store took it down: its receipt becomes `recalled` (the page refreshes by itself).
  const row = page.locator(`#receipt-table tr[data-store="${demoStore.store}"][data-state="recalled"]`);
  await row.waitFor({ timeout: 30000 });
  assert.equal((await row.locator('.state').innerText()).trim(), 'Recalled');
  const stat = page.locator('#receipt-stats [data-stage="recalled"]');
  await stat.waitFor();
  assert.match((await stat.innerText()).trim(), /^1\b/);
  const receipts = (await messageJson(page, message.id)).receipts;
  assert.equal(receipts.recalled, 1);
  assert.equal(receipts.stores.find((s) => s.store === demoStore.store)?.state, 'recalled');
  assert.equal(receipts.displayed, 1, 'it was shown before: displayed stays counted');

  await page.locator('[data-lang="id"]').click();
  assert.equal((await row.locator('.state').innerText()).trim(), 'Ditarik');
  assert.equal((await page.locator('#receipt-stats .stat--recalled .stat__label').innerText()).trim(), 'Ditarik');

  // The history's bars count it too.
  await page.locator('.app-nav a[data-route="history"]').click();
  const bar = page.locator('#history-table tbody tr', { hasText: message.title }).locator('.receipt--recalled');
  await bar.waitFor();
  assert.equal((await bar.locator('.receipt__label').innerText()).trim(), 'Ditarik');
  assert.equal((await bar.locator('.receipt__count').innerText()).trim(), '1/1');
  assertClean(page);
});

test('recalling in the Indonesian UI: "Tarik pesan" and its confirmation', limited, async (t) => {
  const message = await sendAsPeer(['region:jateng'], unique('Promo batal'));
  const page = await openPage(t, { locale: 'id-ID' });
  await login(page);
  assert.equal(await page.locator('html').getAttribute('lang'), 'id');
  assert.equal((await page.locator('.app-nav a[data-route="scheduled"]').innerText()).trim(), 'Terjadwal');
  await page.goto(`/#/messages/${encodeURIComponent(message.id)}`);
  await page.getByRole('button', { name: 'Tarik pesan', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Tarik pesan ini?' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), new RegExp(`Toko yang belum menampilkan “${message.title}”`));
  assert.ok(await dialog.getByRole('button', { name: 'Biarkan' }).isVisible());
  await dialog.getByRole('button', { name: 'Tarik pesan' }).click();
  await page.locator('.detail__message .badge--recalled').waitFor();
  assert.equal((await noticeTitle(page).innerText()).trim(), 'Pesan ditarik');
  assert.equal((await page.locator('.detail__message .badge--recalled').innerText()).trim(), 'Ditarik');
  assert.match((await page.locator('#recall-note').innerText()).trim(), /^Ditarik oleh admin, /);
  assert.equal((await messageJson(page, message.id)).recall?.by, 'admin');
  assertClean(page);
});

test('correcting a message: Correct fills in the compose page, and the correction replaces the original', limited, async (t) => {
  const expires = new Date(Date.now() + 3 * 86400000);
  expires.setUTCSeconds(0, 0);
  const original = await sendAsPeer(['store:1001', 'region:jateng'], unique('Harga minyak Rp 43.900'), {
    body: 'Harga baru mulai Senin.', priority: 'high', require_ack: true, category: 'price_info', expires_at: expires.toISOString(),
  });
  const page = await openPage(t);
  const posts = watchSends(page);
  await login(page);
  await page.goto(`/#/messages/${encodeURIComponent(original.id)}`);
  await page.locator('#correct').click();
  await page.waitForURL(/#\/compose\?correct=/);
  const note = page.locator('#correction-title');
  await page.waitForFunction(() => document.querySelector('#correction-title')?.textContent.startsWith('Correcting message'));
  assert.equal((await note.innerText()).trim(), `Correcting message “${original.title}” (${original.id})`);

  // Filled in from the message.
  assert.deepEqual(await page.locator('#target-chips .chip').allInnerTexts().then((l) => l.map((x) => x.replace('×', '').trim()).sort()),
    ['region:jateng', 'store:1001']);
  assert.equal(await page.locator('#title').inputValue(), original.title);
  assert.equal(await page.locator('#body').inputValue(), 'Harga baru mulai Senin.');
  assert.ok(await page.locator('#priority-high').isChecked());
  assert.ok(await page.locator('input[name="category"][value="price_info"]').isChecked());
  assert.ok(await page.locator('#require-ack').isChecked());
  const expiresLocal = await page.evaluate((iso) => {
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }, expires.toISOString());
  assert.equal(await page.locator('#expires').inputValue(), expiresLocal);
  assert.equal((await page.locator('#send').innerText()).trim(), 'Send correction');
  assert.ok(!(await page.locator('#field-send_at').isVisible()), 'a correction goes out at once: no Send later');

  // A recipient the original did not have is refused by the server, at the recipients.
  await page.locator('#target-input').fill('region:jabar');
  await page.locator('#target-input').press('Enter');
  const refused = await send(page);
  assert.equal(refused.kind, 'error');
  assert.equal(refused.title, 'Message not sent: check the highlighted field.');
  assert.ok(await page.locator('#field-targets.field--invalid').isVisible());
  assert.ok((await page.locator('#targets-error').innerText()).trim().length > 0, 'the server says why, at the field');
  assert.equal(posts.at(-1).supersedes, original.id);
  assert.equal((await messageJson(page, original.id)).recall, null, 'a refused correction recalls nothing');

  await page.getByRole('button', { name: 'Remove region:jabar' }).click();
  const fixed = unique('Harga minyak Rp 34.900');
  await page.locator('#title').fill(fixed);
  await page.locator('#send').click();
  await page.waitForURL((url) => /#\/messages\//.test(url.hash) && !url.hash.includes(original.id));
  const correctionId = decodeURIComponent(new URL(page.url()).hash.replace('#/messages/', ''));
  const sent = posts.at(-1);
  assert.equal(sent.supersedes, original.id, 'the send names the message it corrects');
  assert.equal(sent.send_at, undefined);
  assert.deepEqual([...sent.targets].sort(), ['region:jateng', 'store:1001']);
  assert.equal(sent.priority, 'high');
  assert.equal(sent.require_ack, true);

  // The new message's page: it says what it corrects, with a link to it.
  await page.locator('h1', { hasText: fixed }).waitFor();
  assert.equal((await noticeTitle(page).innerText()).trim(), 'Correction sent: the original message was recalled');
  assert.equal((await page.locator('.detail__message .badge--correction').innerText()).trim(), 'Correction');
  const corrects = page.locator('#corrects-link');
  assert.equal(await corrects.getAttribute('href'), `#/messages/${encodeURIComponent(original.id)}`);
  await page.locator('#corrects-link', { hasText: original.title }).waitFor();
  assert.equal((await page.locator('#corrects').innerText()).replace(/\s+/g, ' ').trim(), `Corrects ${original.title}`);
  assert.equal((await messageJson(page, correctionId)).message.supersedes, original.id);

  // The original: recalled, and corrected by the new one.
  await corrects.click();
  await page.locator('.detail__message .badge--recalled').waitFor();
  assert.match((await page.locator('#recall-note').innerText()).trim(), /^Recalled by admin, /);
  const by = page.locator('#corrected-by-link');
  assert.equal(await by.getAttribute('href'), `#/messages/${encodeURIComponent(correctionId)}`);
  await page.locator('#corrected-by-link', { hasText: fixed }).waitFor();
  assert.equal((await page.locator('#corrected-by').innerText()).replace(/\s+/g, ' ').trim(), `Corrected by ${fixed}`);
  assert.equal((await messageJson(page, original.id)).recall?.superseded_by, correctionId);

  await page.locator('[data-lang="id"]').click();
  assert.equal((await page.locator('#corrected-by').innerText()).replace(/\s+/g, ' ').trim(), `Dikoreksi oleh ${fixed}`);
  await by.click();
  // It names the original by id until the original's title has loaded.
  await page.locator('#corrects', { hasText: original.title }).waitFor();
  assert.equal((await page.locator('#corrects').innerText()).replace(/\s+/g, ' ').trim(), `Mengoreksi ${original.title}`);
  assertClean(page);
});

test('correcting a message that does not exist says so and leaves a plain compose page', limited, async (t) => {
  const page = await openPage(t);
  const posts = watchSends(page);
  await login(page);
  await page.goto('/#/compose?correct=01ARZ3NDEKTSV4RRFFQ69G5FAV');
  await page.locator('#notices .notice--error').waitFor();
  assert.equal((await noticeTitle(page).innerText()).trim(), 'The message to correct was not found.');
  assert.ok(!(await page.locator('#field-supersedes').isVisible()), 'no correction note');
  assert.ok(await page.locator('#field-send_at').isVisible(), 'Send later is offered again');
  assert.equal((await page.locator('#send').innerText()).trim(), 'Send message');
  await fillMessage(page, { targets: ['store:1001'], title: unique('Bukan koreksi') });
  const result = await send(page);
  assert.equal(result.title, text.sent.en);
  assert.equal(posts.at(-1).supersedes, undefined, 'a plain send: nothing to supersede');
  assertClean(page);
});

test('sending later: the time goes out with the browser offset, the Scheduled page lists it soonest first, and Cancel removes it', limited, async (t) => {
  const page = await openPage(t, { timezoneId: 'Asia/Jakarta' });
  const posts = watchSends(page);
  await login(page);
  // Tomorrow in Jakarta (UTC+7, no daylight saving), 10:30 and 09:15.
  const day = await page.evaluate(() => {
    const d = new Date(Date.now() + 86400000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  });
  const earlier = await sendAsPeer(['store:1001'], unique('Stok opname pagi'), { send_at: `${day}T09:15:00+07:00` });
  assert.equal(earlier.state, 'scheduled');

  const title = unique('Promo gajian');
  await fillMessage(page, { targets: ['region:jateng'], title });
  assert.ok(!(await page.locator('#later-when').isVisible()), 'date and time appear only for Send later');
  await page.locator('#send-later').check();
  await page.locator('#later-when').waitFor();
  assert.match(await page.locator('#later-hint').innerText(), /Asia\/Jakarta/);
  assert.equal((await page.locator('#send').innerText()).trim(), 'Schedule message');
  await page.locator('#send-at-date').fill(day);
  await page.locator('#send-at-time').fill('10:30');
  const answer = page.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === '/api/v1/messages');
  const result = await send(page);
  assert.equal((await answer).status(), 202);
  const at = `${day}T10:30:00+07:00`;
  assert.equal(posts.at(-1).send_at, at, 'send_at in RFC 3339 with the browser offset');
  const shown = await page.evaluate((iso) => new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)), at);
  assert.equal(result.kind, 'success');
  assert.equal(result.title, `Message scheduled for ${shown}`);
  assert.ok(!(await page.locator('#send-later').isChecked()), 'the form is ready for a message that goes now');

  await result.notice.locator('a.notice__link').click();
  await page.waitForURL(/#\/scheduled$/);
  const row = page.locator('#scheduled-table tbody tr', { hasText: title });
  await row.waitFor();
  assert.equal((await page.locator('.page--scheduled h1').innerText()).trim(), 'Scheduled');
  assert.equal(await row.getAttribute('data-state'), 'scheduled');
  assert.equal((await row.locator('.state').innerText()).trim(), 'Scheduled');
  assert.equal(await row.locator('time').getAttribute('datetime'), new Date(at).toISOString());
  assert.equal((await row.locator('.col-sender').innerText()).trim(), 'admin');
  assert.equal((await row.locator('.chip').innerText()).trim(), 'region:jateng');
  const ids = await page.locator('#scheduled-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.ok(ids.indexOf(earlier.id) >= 0 && ids.indexOf(earlier.id) < ids.indexOf(await row.getAttribute('data-id')), 'soonest first');
  const id = await row.getAttribute('data-id');
  assert.ok((await scheduledIds(page)).includes(id));

  // Cancel asks first; "Keep it" keeps it.
  await row.getByRole('button', { name: `Cancel “${title}”` }).click();
  const dialog = page.getByRole('dialog', { name: 'Cancel this scheduled message?' });
  await dialog.waitFor();
  assert.equal((await dialog.locator('.dialog__body').innerText()).trim(), `“${title}” will not be sent on ${shown}.`);
  await dialog.getByRole('button', { name: 'Keep it' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.ok((await scheduledIds(page)).includes(id), 'Keep it cancels nothing');

  await row.getByRole('button', { name: `Cancel “${title}”` }).click();
  await dialog.getByRole('button', { name: 'Cancel message' }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await noticeTitle(page).innerText()).trim(), 'Scheduled message cancelled');
  assert.ok(!(await scheduledIds(page)).includes(id), 'gone from the schedule');

  // One cancelled elsewhere while the dialog is open: the answer (404) is a clear notice.
  const other = page.locator(`#scheduled-table tbody tr[data-id="${earlier.id}"]`);
  await other.getByRole('button', { name: /^Cancel/ }).click();
  await dialog.waitFor();
  const elsewhere = await asPeer('POST', `/api/v1/scheduled/${encodeURIComponent(earlier.id)}/cancel`);
  assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.json));
  await dialog.getByRole('button', { name: 'Cancel message' }).click();
  await page.locator('#notices .notice--warning').waitFor();
  assert.equal((await noticeTitle(page).innerText()).trim(), 'This scheduled message no longer exists: it was already sent or cancelled.');
  await other.waitFor({ state: 'detached' });

  // The page in Bahasa Indonesia.
  const third = await sendAsPeer(['store:1001'], unique('Rapat kepala toko'), { send_at: `${day}T11:00:00+07:00` });
  await page.locator('#scheduled-refresh').click();
  const thirdRow = page.locator(`#scheduled-table tbody tr[data-id="${third.id}"]`);
  await thirdRow.waitFor();
  await page.locator('[data-lang="id"]').click();
  assert.equal((await page.locator('.page--scheduled h1').innerText()).trim(), 'Terjadwal');
  assert.equal((await thirdRow.locator('.state').innerText()).trim(), 'Terjadwal');
  assert.equal((await thirdRow.locator('button').innerText()).trim(), 'Batalkan');
  await thirdRow.locator('button').click();
  const dialogId = page.getByRole('dialog', { name: 'Batalkan pesan terjadwal ini?' });
  await dialogId.waitFor();
  await dialogId.getByRole('button', { name: 'Batalkan pesan' }).click();
  await thirdRow.waitFor({ state: 'detached' });
  assert.equal((await noticeTitle(page).innerText()).trim(), 'Pesan terjadwal dibatalkan');
  assertClean(page);
});

test('send later: a past time is caught at the field, and the server\'s send_at and expires_at errors show at theirs', limited, async (t) => {
  const page = await openPage(t);
  const posts = watchSends(page);
  await login(page);
  const local = (offsetDays) => page.evaluate((n) => {
    const d = new Date(Date.now() + n * 86400000);
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  }, offsetDays);
  await fillMessage(page, { targets: ['store:1001'], title: unique('Terlambat') });
  await page.locator('#send-later').check();
  await page.locator('#send-at-date').fill(await local(-1));
  await page.locator('#send-at-time').fill('10:00');
  await page.locator('#send').click();
  const error = page.locator('#send-at-error');
  await error.waitFor();
  assert.equal((await error.innerText()).trim(), 'The send time must be in the future.');
  assert.ok(await page.locator('#field-send_at.field--invalid').isVisible());
  assert.equal(await page.locator('#send-at-date').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'send-at-date', 'the field takes the focus');
  assert.equal(posts.length, 0, 'nothing was sent');
  await page.locator('[data-lang="id"]').click();
  assert.equal((await error.innerText()).trim(), 'Waktu pengiriman harus di masa depan.');
  await page.locator('[data-lang="en"]').click();

  // Only the date: the time is asked for.
  await page.locator('#send-at-time').fill('');
  await page.locator('#send-at-date').fill(await local(1));
  await page.locator('#send').click();
  await page.locator('#field-send_at.field--invalid').waitFor();
  assert.equal((await error.innerText()).trim(), 'Choose the date and time to send it.');
  assert.equal(posts.length, 0);

  // Further ahead than the server allows (90 days): its message, at the field.
  await page.locator('#send-at-date').fill(await local(120));
  await page.locator('#send-at-time').fill('10:00');
  const tooFar = await send(page);
  assert.equal(posts.length, 1);
  assert.equal(tooFar.kind, 'error');
  assert.equal(tooFar.title, 'Message not sent: check the highlighted field.');
  assert.ok(await page.locator('#field-send_at.field--invalid').isVisible());
  assert.match((await error.innerText()).trim(), /90/);

  // Expiring before it goes out: the server blames expires_at.
  await page.locator('#send-at-date').fill(await local(2));
  await page.locator('#expires').fill(`${await local(1)}T10:00`);
  const expiresFirst = await send(page);
  assert.equal(posts.length, 2);
  assert.equal(expiresFirst.kind, 'error');
  assert.ok(await page.locator('#field-expires_at.field--invalid').isVisible());
  assert.ok(!(await page.locator('#field-send_at.field--invalid').isVisible()), 'the earlier error is cleared');
  assert.match((await page.locator('#expires-error').innerText()).trim(), /send_at/);
  assertClean(page);
});

// Must-read messages (issue 18) -----------------------------------------------------------------

test('must-read: Repeat every and Escalate after need "Require acknowledgement", go out in seconds, the server\'s minimum shows at the field, and Correct carries them', limited, async (t) => {
  const page = await openPage(t);
  const posts = watchSends(page);
  await login(page);
  const title = unique('Wajib dibaca: stok opname');
  await fillMessage(page, { targets: ['store:1001'], title });
  assert.ok(await page.locator('#repeat-every').isDisabled(), 'off without Require acknowledgement');
  assert.ok(await page.locator('#escalate-after-unit').isDisabled());
  assert.ok(await page.locator('#must-read-off').isVisible());
  assert.equal((await page.locator('label[for="repeat-every"]').innerText()).trim(), 'Repeat every');
  assert.equal((await page.locator('label[for="escalate-after"]').innerText()).trim(), 'Escalate after');

  await page.locator('#require-ack').check();
  assert.ok(await page.locator('#repeat-every').isEnabled());
  assert.ok(!(await page.locator('#must-read-off').isVisible()));
  await page.locator('#repeat-every').fill('1');
  assert.equal(await page.locator('#repeat-every-unit').inputValue(), 'min', 'minutes unless chosen');
  await page.locator('#escalate-after').fill('90');
  await page.locator('#escalate-after-unit').selectOption('s');
  const sent = await send(page);
  assert.equal(sent.kind, 'success', `notice: ${sent.title}`);
  assert.equal(posts.at(-1).repeat_every_s, 60);
  assert.equal(posts.at(-1).escalate_after_s, 90);
  const id = decodeURIComponent((await sent.notice.locator('a.notice__link').getAttribute('href')).replace('#/messages/', ''));
  const { message } = await messageJson(page, id);
  assert.equal(message.repeat_every_s, 60);
  assert.equal(message.escalate_after_s, 90);
  assert.equal(await page.locator('#repeat-every').inputValue(), '', 'cleared for the next message');
  assert.ok(await page.locator('#repeat-every').isDisabled());

  // Unticked again, the values stay in the form but are not sent.
  await fillMessage(page, { targets: [], title: unique('Tanpa ulang') });
  await page.locator('#require-ack').check();
  await page.locator('#repeat-every').fill('2');
  await page.locator('#require-ack').uncheck();
  assert.equal((await send(page)).kind, 'success');
  assert.ok(!('repeat_every_s' in posts.at(-1)) && !('escalate_after_s' in posts.at(-1)));
  assert.equal(posts.at(-1).require_ack, false);

  // 5 s: the hint warns, the server refuses, and its message shows at the field.
  await fillMessage(page, { targets: [], title: unique('Terlalu sering') });
  await page.locator('#require-ack').check();
  await page.locator('#repeat-every').fill('5');
  await page.locator('#repeat-every-unit').selectOption('s');
  assert.ok(await page.locator('#repeat-every-hint.hint--warn').isVisible(), 'the hint says 10 s at least');
  assert.match(await page.locator('#repeat-every-hint').innerText(), /At least 10 seconds/);
  const refused = await send(page);
  assert.equal(posts.at(-1).repeat_every_s, 5, 'the server has the last word');
  assert.equal(refused.kind, 'error');
  assert.equal(refused.title, 'Message not sent: check the highlighted field.');
  assert.ok(await page.locator('#field-repeat_every_s.field--invalid').isVisible());
  assert.match((await page.locator('#repeat-every-error').innerText()).trim(), /^repeat_every_s must be 10 to \d+ seconds$/);
  assert.equal(await page.locator('#repeat-every').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'repeat-every', 'the field takes the focus');
  await page.locator('#repeat-every').fill('15');
  assert.ok(!(await page.locator('#repeat-every-error').isVisible()), 'typing clears the error');

  // Bahasa Indonesia.
  await page.locator('[data-lang="id"]').click();
  assert.equal((await page.locator('label[for="repeat-every"]').innerText()).trim(), 'Ulangi setiap');
  assert.equal((await page.locator('label[for="escalate-after"]').innerText()).trim(), 'Eskalasi setelah');
  assert.match(await page.locator('#repeat-every-hint').innerText(), /Minimal 10 detik/);
  assert.deepEqual(await page.locator('#repeat-every-unit option').allInnerTexts(), ['detik', 'menit', 'jam']);
  await page.locator('#require-ack').uncheck();
  assert.match(await page.locator('#must-read-off').innerText(), /Centang “Wajib konfirmasi”/);
  await page.locator('[data-lang="en"]').click();

  // Correct: the form is filled from the message, these two included, and they go out again.
  await page.goto(`/#/messages/${encodeURIComponent(id)}`);
  await page.locator('#correct').click();
  await page.waitForFunction(() => document.querySelector('#title')?.value.length > 0);
  assert.ok(await page.locator('#require-ack').isChecked());
  assert.equal(await page.locator('#repeat-every').inputValue(), '1');
  assert.equal(await page.locator('#repeat-every-unit').inputValue(), 'min');
  assert.equal(await page.locator('#escalate-after').inputValue(), '90');
  assert.equal(await page.locator('#escalate-after-unit').inputValue(), 's');
  await page.locator('#escalate-after').fill('2');
  await page.locator('#escalate-after-unit').selectOption('h');
  await page.locator('#send').click();
  await page.waitForURL((url) => !url.hash.includes(encodeURIComponent(id)) && url.hash.startsWith('#/messages/'));
  assert.equal(posts.at(-1).supersedes, id);
  assert.equal(posts.at(-1).repeat_every_s, 60);
  assert.equal(posts.at(-1).escalate_after_s, 7200);
  assertClean(page);
});

test('must-read message page: its settings, where the escalation stands, Download CSV, and the Not acknowledged filter, in English and Bahasa Indonesia', limited, async (t) => {
  if (!stack.stores.length) {
    t.skip(`no store running (subscriberd ${Subscriberd.available() ? 'built' : 'not built'})`);
    return;
  }
  const message = await sendAsPeer([`store:${demoStore.store}`], unique('Wajib konfirmasi'), {
    require_ack: true, repeat_every_s: 300, escalate_after_s: 3600,
  });
  const page = await openPage(t);
  await login(page);
  await page.goto(`/#/messages/${encodeURIComponent(message.id)}`);
  const row = page.locator(`#receipt-table tr[data-store="${demoStore.store}"]`);
  await page.locator(`#receipt-table tr[data-store="${demoStore.store}"][data-state="displayed"]`).waitFor({ timeout: 30000 });
  assert.equal((await page.locator('#detail-repeat').innerText()).trim(), 'Every 5 minutes, until acknowledged');
  assert.equal((await page.locator('#detail-escalate').innerText()).trim(), 'After 1 hour without acknowledgement');
  const escalation = page.locator('#detail-escalation-state');
  assert.equal(await escalation.getAttribute('data-state'), 'pending');
  assert.match((await escalation.innerText()).trim(), /^Due \S/);

  // The CSV, with the page's own session cookie.
  const csv = page.locator('#receipts-csv');
  assert.equal((await csv.innerText()).trim(), 'Download CSV');
  const href = await csv.getAttribute('href');
  assert.equal(href, `/api/v1/messages/${encodeURIComponent(message.id)}/receipts.csv`);
  const got = await page.evaluate(async (url) => {
    const res = await fetch(url);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  }, href);
  assert.equal(got.status, 200);
  assert.match(got.type, /^text\/csv/);
  assert.ok(got.body.startsWith('store,state,at\r\n'), got.body);
  assert.match(got.body, new RegExp(`\r\n${demoStore.store},displayed,\\d{4}-`));

  // Not acknowledged: the store shows until someone there acknowledges (its receipt, as
  // subscriberd writes it), then the filter hides it.
  const unacked = page.locator('[data-filter="unacked"]');
  assert.equal((await unacked.innerText()).trim(), 'Not acknowledged (1)');
  await unacked.click();
  assert.equal(await unacked.getAttribute('aria-pressed'), 'true');
  assert.ok(await row.isVisible());
  stack.redis.cli('HSETNX', `bcast:{store:${demoStore.store}}:receipts`, `${message.id}:acknowledged`, new Date().toISOString());
  await row.waitFor({ state: 'detached', timeout: 30000 });
  assert.equal((await unacked.innerText()).trim(), 'Not acknowledged (0)');
  await page.locator('[data-filter="all"]').click();
  await page.locator(`#receipt-table tr[data-store="${demoStore.store}"][data-state="acknowledged"]`).waitFor();
  await unacked.click();
  assert.equal(await row.count(), 0);

  await page.locator('[data-lang="id"]').click();
  assert.equal((await unacked.innerText()).trim(), 'Belum dikonfirmasi (0)');
  assert.equal((await csv.innerText()).trim(), 'Unduh CSV');
  assert.equal((await page.locator('#detail-repeat').innerText()).trim(), 'Setiap 5 menit, sampai dikonfirmasi');
  assert.equal((await page.locator('#detail-escalate').innerText()).trim(), 'Setelah 1 jam tanpa konfirmasi');
  assert.match((await escalation.innerText()).trim(), /^Dijadwalkan \S/);
  await page.locator('[data-lang="en"]').click();

  // Escalated after a second: the store has not acknowledged, and this publisherd has no
  // escalation_command, so the page says it did not run, and why.
  const soon = await sendAsPeer([`store:${demoStore.store}`], unique('Eskalasi'), {
    require_ack: true, escalate_after_s: 1,
  });
  await page.goto(`/#/messages/${encodeURIComponent(soon.id)}`);
  await page.locator('#detail-escalation-state[data-state="done"]').waitFor({ timeout: 30000 });
  assert.equal(await escalation.getAttribute('data-result'), 'not_configured');
  assert.match((await escalation.innerText()).trim(), /^Not run: no escalation command is configured \(.+\)$/);
  await page.locator('[data-lang="id"]').click();
  assert.match((await escalation.innerText()).trim(), /^Tidak dijalankan: perintah eskalasi belum diatur \(.+\)$/);
  await page.locator('[data-lang="en"]').click();

  // A message that asks for no acknowledgement offers no such filter and no settings.
  const plain = await sendAsPeer([`store:${demoStore.store}`], unique('Biasa'));
  await page.goto(`/#/messages/${encodeURIComponent(plain.id)}`);
  await page.locator('#receipt-stats .stat').first().waitFor();
  assert.ok(!(await page.locator('[data-filter="unacked"]').isVisible()));
  assert.equal(await page.locator('#detail-repeat').count(), 0);
  assert.ok(await page.locator('#receipts-csv').isVisible());
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

test('the Audit page lists what was done, newest first, pages with "Load more", in English and Bahasa Indonesia; only admins see it', limited, async (t) => {
  // More than one page (50) of entries, the newest of them sends by the Unix-socket peer.
  const sent = [];
  for (let i = 0; i < 51; i++) sent.push(await sendAsPeer(['all'], unique(`Audit ${i}`)));
  const newest = sent[sent.length - 1];

  const page = await openPage(t);
  await login(page);
  const nav = page.locator('.app-nav a[data-route="audit"]');
  assert.equal(await nav.isVisible(), true, 'an admin sees the Audit link');
  assert.equal((await nav.innerText()).trim(), 'Audit');
  await nav.click();
  await page.waitForURL(/#\/audit$/);
  const rows = page.locator('#audit-table tbody tr');
  await rows.first().waitFor();
  assert.equal((await page.locator('.page--audit h1').innerText()).trim(), 'Audit log');
  // textContent: the header's CSS writes it in capitals.
  const headerTexts = () => page.locator('#audit-table thead th').evaluateAll((ths) => ths.map((th) => th.textContent.trim()));
  const headers = await headerTexts();
  assert.deepEqual(headers, ['Time', 'Who', 'From', 'Action', 'Message', 'Result']);

  // This admin's login is the newest entry; the peer's newest send is just below it.
  const first = rows.nth(0);
  assert.equal(await first.getAttribute('data-action'), 'login');
  assert.equal((await first.locator('.col-actor').innerText()).trim(), admin.name);
  assert.equal((await first.locator('.col-action').innerText()).trim(), 'Login');
  assert.equal((await first.locator('.col-result').innerText()).trim(), 'OK');
  const sendRow = page.locator('#audit-table tbody tr', { hasText: newest.id });
  assert.equal(await sendRow.getAttribute('data-action'), 'send');
  assert.equal((await sendRow.locator('.col-action').innerText()).trim(), 'Send');
  assert.match((await sendRow.locator('.col-actor').innerText()).trim(), /^uid:\d+$/);
  assert.equal((await sendRow.locator('.col-address').innerText()).trim(), 'unix');

  // Paging: 50 a page; "Load more" reads on from the cursor, without repeating a row.
  assert.equal(await rows.count(), 50);
  const more = page.locator('#audit-more');
  assert.equal(await more.isVisible(), true);
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('#audit-table tbody tr').length > 50);
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no entry twice');
  assert.ok(await page.locator('#audit-table tbody tr', { hasText: sent[0].id }).count() === 1,
    'the oldest of the sends is on the second page');

  await page.locator('[data-lang="id"]').click();
  assert.equal((await page.locator('.page--audit h1').innerText()).trim(), 'Log audit');
  const headersId = await headerTexts();
  assert.deepEqual(headersId, ['Waktu', 'Siapa', 'Dari', 'Tindakan', 'Pesan', 'Hasil']);
  assert.equal((await sendRow.locator('.col-action').innerText()).trim(), 'Kirim');
  assert.equal((await first.locator('.col-result').innerText()).trim(), 'Berhasil');
  assert.equal((await page.locator('#audit-more').innerText()).trim(), 'Muat lebih banyak');
  await page.locator('[data-lang="en"]').click();
  assertClean(page);

  // A publisher sees no Audit link, and the page by its address says it is for admins.
  const other = await openPage(t);
  await login(other, regional);
  assert.equal(await other.locator('.app-nav a[data-route="audit"]').isVisible(), false);
  await other.goto('/#/audit');
  await other.locator('#audit-forbidden').waitFor();
  assert.equal((await other.locator('#audit-forbidden').innerText()).trim(), 'Only an admin may read the audit log.');
  assertClean(other);
});
