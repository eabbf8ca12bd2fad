// SCIM provisioning (docs/guides/scim.md): the super-admin opens Admin → Settings →
// Integrations → SCIM, generates the token (shown once, beside the Tenant URL to paste into
// Entra), Entra's requests then create a user who appears in Admin → Users; rotating stops
// the old token at once, the group mapping refuses super-admin, revoking stops everything,
// and each change is in the audit log.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { privateWindow, screenshot, signInWithPassword, startStackAndBrowser, text } from '../lib/browser.mjs';

let stack;
let browser;
let admin;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
  admin = await privateWindow(browser, stack, { clipboard: true });
  await signInWithPassword(admin.page, stack.admin.email, stack.admin.password);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/**
 * One SCIM request as Entra's provisioning service sends it. Node cannot resolve
 * `*.localhost` by itself everywhere, so it connects to loopback and names the workspace
 * in `Host`, as a browser would.
 */
function scim(method, path, token, body) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: stack.port,
        method,
        path: `/scim/v2${path}`,
        headers: {
          Host: `acme.localhost:${stack.port}`,
          Authorization: `Bearer ${token}`,
          Accept: 'application/scim+json',
          ...(payload ? { 'Content-Type': 'application/scim+json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: data ? JSON.parse(data) : null }));
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Admin → Settings → Integrations → SCIM provisioning, by the links a person clicks. */
async function openScimCard(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  await page.locator('#card-scim').getByRole('link', { name: 'SCIM provisioning' }).first().click();
  await page.getByRole('heading', { name: 'SCIM provisioning', level: 1 }).waitFor();
}

let token;

test('the super-admin generates a token, shown once beside the Tenant URL', async () => {
  const { page } = admin;
  await openScimCard(page);
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'not-configured');
  assert.equal(await text(page, '#value-tenant-url'), stack.url('/scim/v2'));
  await page.getByRole('button', { name: 'Generate token' }).click();
  await page.locator('#token-once').waitFor();
  token = await text(page, '#value-token');
  assert.match(token, /^otscim_[A-Za-z0-9_-]{43}$/);
  // The copy button puts exactly the token on the clipboard.
  await page.getByRole('button', { name: 'Copy the secret token' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  // Reloaded, the token is gone from the page for good.
  await page.goto('/admin/settings/integrations/scim');
  assert.ok(!(await page.content()).includes(token));
  assert.match(await text(page, '#value-token-hidden'), /^Hidden/);
  assert.match(await text(page, '#token-state'), /^Active — created/);
  // The card as the guide shows it (after the token has gone from the page).
  await screenshot(page, 'scim-card', { fullPage: true });
});

test('Entra\'s requests create a user who appears in Admin → Users', async () => {
  const probe = await scim('GET', '/Users?filter=userName%20eq%20%22e2e-probe%22', token);
  assert.equal(probe.status, 200);
  assert.equal(probe.headers['content-type'], 'application/scim+json');
  assert.equal(probe.json.totalResults, 0);
  const created = await scim('POST', '/Users', token, {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    externalId: '0b7e4a52-9d1c-4f3e-8a6b-2c5d7e9f1a3b',
    userName: 'isaiah.langer@acme.test',
    active: true,
    name: { givenName: 'Isaiah', familyName: 'Langer' },
    emails: [{ primary: true, type: 'work', value: 'isaiah.langer@acme.test' }],
  });
  assert.equal(created.status, 201);

  const { page } = admin;
  await page.goto('/admin/users');
  const row = page.locator('#users tr[data-email="isaiah.langer@acme.test"]');
  assert.match((await row.innerText()).replace(/\s+/g, ' '), /Isaiah Langer/);
  await page.goto('/admin/settings/integrations/scim');
  assert.equal(await text(page, '#scim-counts'), '1 users, 0 groups');
  assert.notEqual(await text(page, '#token-last-used'), 'Never');
});

test('rotating stops the old token at once; the mapping refuses super-admin; revoking stops all', async () => {
  const { page } = admin;
  await page.goto('/admin/settings/integrations/scim');
  await page.getByRole('button', { name: 'Rotate token' }).click();
  await page.locator('#token-once').waitFor();
  const rotated = await text(page, '#value-token');
  assert.notEqual(rotated, token);
  const old = await scim('GET', '/Users', token);
  assert.equal(old.status, 401);
  assert.equal(old.json.schemas[0], 'urn:ietf:params:scim:api:messages:2.0:Error');
  assert.equal((await scim('GET', '/Users', rotated)).status, 200);

  await page.goto('/admin/settings/integrations/scim');
  await page.getByLabel('Group mapping').fill('Owners = super-admin');
  await page.getByRole('button', { name: 'Save mapping' }).click();
  await page.locator('#scim-mapping-error').waitFor();
  assert.match(await text(page, '#scim-mapping-error'), /SCIM never grants super-admin/);
  assert.equal(await page.getByLabel('Group mapping').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Group mapping').fill('IT Admins = admin');
  await Promise.all([
    page.waitForURL((u) => u.search.includes('notice=mapping')),
    page.getByRole('button', { name: 'Save mapping' }).click(),
  ]);
  assert.equal(await page.getByLabel('Group mapping').inputValue(), 'IT Admins = admin');

  await Promise.all([
    page.waitForURL((u) => u.search.includes('notice=revoked')),
    page.getByRole('button', { name: 'Revoke token' }).click(),
  ]);
  assert.equal((await scim('GET', '/Users', rotated)).status, 401);
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'not-configured');

  await page.goto('/admin/audit-log');
  for (const action of ['SCIM token created', 'SCIM token rotated', 'SCIM token revoked', 'Provisioned by SCIM', 'SCIM group mapping saved']) {
    assert.equal(await page.locator('#audit tbody tr', { hasText: action }).count(), 1, action);
  }
  const content = await page.content();
  assert.ok(!content.includes(token) && !content.includes(rotated));
});
