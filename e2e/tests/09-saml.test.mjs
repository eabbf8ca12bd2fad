// SAML SSO (docs/guides/saml-sso.md, issue #17): the super-admin opens Admin → Settings →
// Integrations → SAML, which shows the identifier and reply URL to enter in the IdP; gives
// it the emulator's App Federation Metadata URL and reads back the IdP's entity id, SSO URL
// and certificate; sets Entra's groups attribute, enables SAML and saves. Test sign-in shows
// what the assertion said and signs nobody in. Then, in a private window, Continue with
// SAML SSO → the emulator's picker → My → Dashboard: the emulator on 127.0.0.1 posts to
// acme.localhost, a cross-site post the ACS answers with its same-site re-post page, which
// must submit itself. The audit log shows the sign-in.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';

import { privateWindow, screenshot, signInWithPassword, startStackAndBrowser, text } from '../lib/browser.mjs';
import { entra } from '../lib/stack.mjs';

const GROUPS_CLAIM = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups';

let stack;
let browser;
let admin;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
  admin = await privateWindow(browser, stack);
  await signInWithPassword(admin.page, stack.admin.email, stack.admin.password);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Admin → Settings → Integrations → SAML single sign-on, by the links a person clicks. */
async function openSamlCard(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  await page.locator('#card-saml').getByRole('link', { name: 'SAML single sign-on' }).click();
  await page.getByRole('heading', { name: 'SAML single sign-on', level: 1 }).waitFor();
}

/**
 * Every answer of OnTrackio's ACS on this page, in order: its status, the request's
 * `Sec-Fetch-Site` and whether it was the re-post page's own submission.
 */
function watchAcs(page) {
  const hops = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() !== 'POST' || response.url() !== stack.url('/saml/acs')) return;
    const hop = {
      status: response.status(),
      resubmitted: new URLSearchParams(request.postData() ?? '').get('resubmitted') === '1',
    };
    hops.push(hop);
    hop.ready = request.allHeaders().then((h) => (hop.site = h['sec-fetch-site']));
  });
  return async () => {
    await Promise.all(hops.map((h) => h.ready));
    return hops.map(({ status, site, resubmitted }) => ({ status, site, resubmitted }));
  };
}

/**
 * At the emulator's "Pick an account", picks `upn`, then waits — clicking nothing more — for
 * OnTrackio's page that `arrived` recognises. On a timeout, says where the browser stopped
 * and what that page was.
 */
async function pickAndArrive(page, upn, arrived, what) {
  await page.waitForURL((u) => u.href.startsWith(stack.authority));
  await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
  await page.locator('button.account', { hasText: upn }).click();
  try {
    await arrived();
  } catch (e) {
    const html = await page.content().catch(() => '(no page)');
    assert.fail(`${what} was not reached without a click; the browser stopped at ${page.url()}:\n${html}\n(${e.message})`);
  }
}

/** The card's certificate dates as it writes them: `2029-05-01 10:00 UTC`. */
function cardTime(date) {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

test('the SAML card shows the identifier and reply URL to enter in the identity provider', async () => {
  const { page } = admin;
  await openSamlCard(page);
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'not-configured');
  assert.equal(await text(page, '#value-sp-entity-id'), stack.url('/saml/metadata'));
  assert.equal(await text(page, '#value-acs-url'), stack.url('/saml/acs'));
  assert.equal(await text(page, '#idp-none'), 'No metadata read yet. Enter the identity provider\'s metadata URL below, or upload or paste its metadata.');
  assert.ok(await page.locator('#test-unavailable').isVisible());
  await screenshot(page, 'saml-card');
});

test('the metadata URL is fetched, the IdP and its certificate shown; SAML is enabled and saved', async () => {
  const { page } = admin;
  await page.getByLabel('Metadata URL').fill(stack.samlMetadataUrl);
  await Promise.all([
    page.waitForURL((u) => u.search.includes('notice=saved')),
    page.getByRole('button', { name: 'Fetch metadata now' }).click(),
  ]);
  assert.equal(await text(page, '#card-notice'), 'Saved. SAML sign-in is off; the settings are kept.');
  assert.equal(await text(page, '#idp-entity-id'), `https://sts.windows.net/${entra.acmeTenant}/`);
  assert.equal(await text(page, '#idp-sso-url'), `${stack.authority}/${entra.acmeTenant}/saml2`);
  assert.match(await text(page, '#idp-source'), new RegExp(`^Fetched from ${stack.samlMetadataUrl.replace(/[.?]/g, '\\$&')} `));

  // The one signing certificate the emulator publishes, with its expiry date.
  const xml = await (await fetch(stack.samlMetadataUrl)).text();
  const published = [...xml.matchAll(/<(?:\w+:)?X509Certificate>([^<]+)</g)].map(
    (m) => new X509Certificate(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')),
  );
  assert.equal(published.length, 1);
  const [cert] = published;
  const shown = page.locator('#idp-certificates li');
  assert.equal(await shown.count(), 1);
  assert.equal(await shown.getAttribute('data-state'), 'ok');
  const certText = (await shown.innerText()).replace(/\s+/g, ' ');
  assert.match(certText, /Microsoft Azure Federated SSO Certificate/);
  assert.ok(certText.includes(`until ${cardTime(new Date(cert.validTo))}`), certText);
  assert.ok(certText.toUpperCase().includes(cert.fingerprint256), certText);

  await page.getByLabel('Group attribute').fill(GROUPS_CLAIM);
  await page.getByLabel('Enable SAML sign-in').check();
  await Promise.all([
    page.waitForURL((u) => u.search.includes('notice=saved')),
    page.getByRole('button', { name: 'Save', exact: true }).click(),
  ]);
  assert.equal(await text(page, '#card-notice'), 'Saved. SAML sign-in is on.');
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'on');
  assert.equal(await page.getByLabel('Group attribute').inputValue(), GROUPS_CLAIM);
  assert.ok(await page.getByLabel('Enable SAML sign-in').isChecked());
});

test('Test sign-in shows the NameID, email and attributes, and signs nobody in', async () => {
  const { page } = admin;
  await page.goto('/admin/users');
  const usersBefore = await page.locator('#users tbody tr').count();

  await page.goto('/admin/settings/integrations/saml');
  const acs = watchAcs(page);
  await page.getByRole('link', { name: 'Test sign-in' }).click();
  await pickAndArrive(
    page,
    entra.alex,
    () => page.getByRole('heading', { name: 'Test sign-in succeeded' }).waitFor(),
    'The "Test sign-in succeeded" page',
  );
  assert.equal(new URL(page.url()).origin, stack.origin('acme'));
  assert.equal(await text(page, '#saml-test-name-id'), entra.alex);
  assert.equal(await text(page, '#saml-test-email'), entra.alex);
  assert.match(await text(page, '#saml-test-result'), /Nobody was signed in\.$/);
  const attribute = (name) => page.locator('tbody tr', { has: page.locator('td:first-child code', { hasText: new RegExp(`^${name.replace(/[.]/g, '\\.')}$`) }) });
  const groups = await text(attribute(GROUPS_CLAIM), 'td:last-child');
  assert.deepEqual(groups.split(', ').sort(), [entra.staffGroup, entra.itAdminsGroup].sort());
  assert.equal(
    await text(attribute('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'), 'td:last-child'),
    entra.alex,
  );
  assert.equal(await text(attribute('http://schemas.microsoft.com/identity/claims/tenantid'), 'td:last-child'), entra.acmeTenant);
  // The emulator's cross-site post got the re-post page, which submitted itself.
  assert.deepEqual(await acs(), [
    { status: 200, site: 'cross-site', resubmitted: false },
    { status: 200, site: 'same-origin', resubmitted: true },
  ]);
  await screenshot(page, 'saml-test-sign-in', { fullPage: true });

  await page.getByRole('link', { name: 'Back to the SAML card' }).click();
  await page.getByRole('heading', { name: 'SAML single sign-on', level: 1 }).waitFor();
  assert.equal(await page.locator('#health-test').getAttribute('data-ok'), 'true');
  assert.ok((await text(page, '#health-test')).startsWith(`Passed — Test sign-in succeeded for ${entra.alex} (`));
  // Still the super-admin here, and nobody new in Admin → Users.
  await page.goto('/admin/users');
  assert.equal(await page.locator('#users tbody tr').count(), usersBefore);
  assert.equal(await page.locator(`#users tr[data-email="${entra.alex}"]`).count(), 0);
  assert.equal(await page.locator(`#users tr[data-email="${stack.admin.email}"]`).count(), 1);
});

test('Continue with SAML SSO in a private window lands an employee on My → Dashboard, audited', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  const acs = watchAcs(page);
  await page.getByRole('link', { name: 'Continue with SAML SSO' }).click();
  await pickAndArrive(
    page,
    entra.megan,
    () => page.waitForURL((u) => u.origin === stack.origin('acme') && u.pathname === '/my/dashboard'),
    'My → Dashboard',
  );
  assert.equal(await text(page, 'h1'), 'Welcome, Megan');
  assert.deepEqual(await acs(), [
    { status: 200, site: 'cross-site', resubmitted: false },
    { status: 303, site: 'same-origin', resubmitted: true },
  ]);
  await context.close();

  const { page: a } = admin;
  await a.goto('/admin/audit-log');
  const row = a.locator('#audit tbody tr', { hasText: 'User signed in with SAML SSO' });
  assert.equal(await row.count(), 1);
  assert.match(await row.innerText(), /megan\.bowen@acme\.test/);
  const testRow = a.locator('#audit tbody tr', { hasText: 'SAML test sign-in' });
  assert.equal(await testRow.count(), 1);
  assert.match(await testRow.innerText(), /alex\.wilber@acme\.test/);
  await a.goto('/admin/users');
  const user = a.locator(`#users tr[data-email="${entra.megan}"]`);
  assert.match((await user.innerText()).replace(/\s+/g, ' '), /Megan Bowen.*Employee.*SAML/);
});
