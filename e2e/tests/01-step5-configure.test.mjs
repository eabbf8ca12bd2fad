// The guide's Step 5, as a super-admin does it: password sign-in → Admin → Settings →
// Integrations → Microsoft Entra ID → the six fields → Save → Continue with Microsoft on /login.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  openMicrosoftCard,
  privateWindow,
  screenshot,
  screenshotRegion,
  signInWithPassword,
  startStackAndBrowser,
  text,
} from '../lib/browser.mjs';
import { entra } from '../lib/stack.mjs';

let stack;
let browser;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('a super-admin fills the Microsoft Entra ID card, copies the redirect URI, saves, and /login shows Continue with Microsoft', async () => {
  const { context, page } = await privateWindow(browser, stack, { clipboard: true });

  // Before anything is set up: no Microsoft button, and the admin dashboard points to the card.
  await page.goto('/login');
  assert.equal(await page.getByRole('link', { name: 'Continue with Microsoft' }).count(), 0);
  await signInWithPassword(page, stack.admin.email, stack.admin.password);
  assert.equal(new URL(page.url()).pathname, '/admin/dashboard');
  const emptyState = await text(page, '#microsoft-not-set-up');
  assert.match(emptyState, /Microsoft sign-in is not set up yet/);
  await screenshot(page, 'admin-dashboard-first-run');

  await openMicrosoftCard(page);
  assert.equal(new URL(page.url()).pathname, '/admin/settings/integrations/microsoft');
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'not-configured');
  assert.equal(await text(page, '#checklist-progress'), '0 of 4 done');
  const redirectUri = stack.url('/auth/microsoft/callback');
  assert.equal(await text(page, '#value-redirect-uri'), redirectUri);
  assert.equal(await text(page, '#value-permissions'), 'openid profile email User.Read');
  await screenshotRegion(page, 'card-empty', 'main', '#checklist', { includeHeader: true });

  // A first attempt with the usual mistakes: each is refused next to its field.
  await page.getByLabel('Enable Microsoft SSO').check();
  await page.getByLabel('Directory (tenant) ID').fill('acme.onmicrosoft');
  await page.getByLabel('Application (client) ID').fill('OnTrackio ITAM');
  await page.getByLabel('Client secret value').fill(entra.clientSecretId);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#ms-tenant-error').waitFor();
  for (const [field, message] of [
    ['#ms-tenant-error', /Directory \(tenant\) ID/],
    ['#ms-client-error', /./],
    ['#ms-secret-error', /secret ID, not its Value/],
  ]) {
    assert.match(await text(page, field), message, field);
  }
  assert.equal(await page.getByLabel('Directory (tenant) ID').getAttribute('aria-invalid'), 'true');
  await screenshotRegion(page, 'card-validation-errors', 'section:has(#settings-heading)', '#ms-secret-source');

  // The six fields on the card opened afresh, the redirect URI pasted from its own Copy button.
  await page.goto('/admin/settings/integrations/microsoft');
  await page.getByLabel('Enable Microsoft SSO').check();
  await page.getByLabel('Directory (tenant) ID').fill('common');
  await page.getByLabel('Application (client) ID').fill(entra.clientId);
  await page.getByLabel('Client secret value').fill(entra.clientSecret);
  const copy = page.locator('[data-copy="ms-redirect-effective"]');
  await copy.click();
  await page.waitForFunction((want) => navigator.clipboard.readText().then((t) => t === want), redirectUri);
  const redirectField = page.getByLabel('Redirect URI (optional)', { exact: true });
  await redirectField.fill('');
  await redirectField.focus();
  await page.keyboard.press('ControlOrMeta+V');
  assert.equal(await redirectField.inputValue(), redirectUri);
  await page.getByLabel('Allowed email domains').fill('acme.test');
  await page.evaluate(() => document.activeElement.blur());
  await screenshotRegion(page, 'card-filled', 'section:has(#settings-heading)', 'form.settings-form');

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#card-notice').waitFor();
  assert.equal(
    await text(page, '#card-notice'),
    'Saved. The Continue with Microsoft button appears on /login immediately.',
  );
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'on');
  assert.equal(await page.getByLabel('Redirect URI (optional)', { exact: true }).inputValue(), redirectUri);
  assert.equal(await page.locator('#ms-redirect-source').getAttribute('data-source'), 'card');
  assert.equal(await page.locator('#checklist-register').getAttribute('data-done'), 'true');
  assert.equal(await text(page, '#checklist-progress'), '1 of 4 done');
  assert.equal(await page.getByLabel('Client secret value').inputValue(), '', 'the secret is never shown again');
  await screenshot(page, 'card-saved');
  await context.close();

  // Another visitor, another window: the button is there at once.
  const visitor = await privateWindow(browser, stack);
  await visitor.page.goto('/login');
  const button = visitor.page.getByRole('link', { name: 'Continue with Microsoft' });
  await button.waitFor();
  assert.ok(await button.isVisible());
  assert.equal(await text(visitor.page, 'h1'), 'Sign in to Acme Corporation');
  await screenshot(visitor.page, 'sign-in');
  await visitor.context.close();
});
