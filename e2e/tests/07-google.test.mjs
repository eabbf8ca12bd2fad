// Google sign-in (docs/guides/google-sso.md): the super-admin fills the Google card from its
// checklist, Continue with Google appears beside Continue with Microsoft, a Workspace account
// picked in Google's "Choose an account" page lands on My → Dashboard, and the two refusals
// the demo shows (a consumer account outside the allowlist, an unverified email) say why.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  configureMicrosoft,
  privateWindow,
  screenshot,
  startStackAndBrowser,
  text,
} from '../lib/browser.mjs';
import { google } from '../lib/stack.mjs';

let stack;
let browser;
let admin;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
  admin = await privateWindow(browser, stack);
  // The allowed email domains are one workspace setting, edited on the Microsoft card.
  await configureMicrosoft(admin.page, stack);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Admin → Settings → Integrations → Google, by the links a person clicks. */
async function openGoogleCard(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  await page.locator('#card-google').getByRole('link', { name: 'Google' }).first().click();
  await page.getByRole('heading', { name: 'Google', level: 1 }).waitFor();
}

/** `/login` → Continue with Google → Google's picker → `email`; resolves on OnTrackio's answer. */
async function signInWithGoogle(page, email) {
  await page.goto('/login');
  await page.getByRole('link', { name: 'Continue with Google' }).click();
  await page.waitForURL((u) => u.href.startsWith(stack.googleIssuer));
  await page.getByRole('heading', { name: 'Choose an account' }).waitFor();
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(stack.origin('acme'))),
    page.locator('button.account', { hasText: email }).click(),
  ]);
  await page.waitForLoadState();
}

test('the super-admin fills the Google card and Continue with Google appears on /login', async () => {
  const { page } = admin;
  await openGoogleCard(page);
  // The checklist shows the exact redirect URI to paste into Google Cloud console.
  assert.equal(await text(page, '#value-redirect-uri'), stack.url('/auth/google/callback'));
  await page.getByLabel('Enable Google sign-in').setChecked(true);
  await page.getByLabel('Client ID', { exact: true }).fill(google.clientId);
  await page.getByLabel('Client secret', { exact: true }).fill(google.clientSecret);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const notice = page.locator('#card-notice');
  await notice.waitFor();
  assert.match((await notice.textContent()).trim(), /^Saved\./);
  // The secret is write-only: never shown back.
  assert.equal(await page.getByLabel('Client secret', { exact: true }).inputValue(), '');
  assert.ok(!(await page.content()).includes(google.clientSecret));
  await Promise.all([
    page.waitForURL((u) => u.search.includes('notice=tested')),
    page.getByRole('button', { name: 'Test connection' }).click(),
  ]);
  assert.equal(await page.locator('#health-test').getAttribute('data-ok'), 'true');
  assert.match(await text(page, '#health-test'), /^Passed/);
  await screenshot(page, 'google-card-saved', { fullPage: true });

  const { context, page: visitor } = await privateWindow(browser, stack);
  await visitor.goto('/login');
  assert.ok(await visitor.getByRole('link', { name: 'Continue with Microsoft' }).isVisible());
  assert.ok(await visitor.getByRole('link', { name: 'Continue with Google' }).isVisible());
  await screenshot(visitor, 'sign-in-both');
  await context.close();
});

test('a Workspace account picked in Google\'s account picker lands on My → Dashboard, audited', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  await page.getByRole('link', { name: 'Continue with Google' }).click();
  await page.waitForURL((u) => u.href.startsWith(stack.googleIssuer));
  await page.getByRole('heading', { name: 'Choose an account' }).waitFor();
  await screenshot(page, 'google-account-picker');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/my/dashboard'),
    page.locator('button.account', { hasText: google.dana }).click(),
  ]);
  assert.equal(await text(page, 'h1'), 'Welcome, Dana');
  await context.close();

  const { page: a } = admin;
  await a.goto('/admin/audit-log');
  const row = a.locator('#audit tbody tr', { hasText: 'User signed in with Google SSO' });
  assert.equal(await row.count(), 1);
  assert.match(await row.innerText(), /dana\.scully@acme\.test/);
  await a.goto('/admin/users');
  const user = a.locator(`#users tr[data-email="${google.dana}"]`);
  assert.match((await user.innerText()).replace(/\s+/g, ' '), /Google/);
});

test('a consumer account outside the allowlist and an unverified email are refused with the reason', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await signInWithGoogle(page, google.casey);
  assert.equal(await text(page, '#sign-in-error'), 'Access restricted. Ask your workspace admin to invite you first.');
  await signInWithGoogle(page, google.uma);
  assert.match(await text(page, '#sign-in-error'), /^Google has not verified the email address of this account/);
  await screenshot(page, 'google-error-unverified');
  await context.close();
});
