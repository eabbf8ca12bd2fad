// The guide's Step 6: a private window → /login → Continue with Microsoft → the account
// picker → a first-time user lands on My → Dashboard; the super-admin sees the sign-in in the
// audit log and the new user in Admin → Users.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  configureMicrosoft,
  pickAccount,
  privateWindow,
  screenshot,
  startStackAndBrowser,
  text,
} from '../lib/browser.mjs';
import { entra } from '../lib/stack.mjs';

let stack;
let browser;
let admin;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
  admin = await privateWindow(browser, stack);
  await configureMicrosoft(admin.page, stack);
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('a first-time employee signs in with Microsoft from a private window and lands on My → Dashboard with their name', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  await page.getByRole('link', { name: 'Continue with Microsoft' }).click();
  await page.waitForURL((u) => u.href.startsWith(stack.authority));
  await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
  assert.ok(await page.locator('button.account', { hasText: entra.adele }).isVisible());
  await screenshot(page, 'account-picker');
  await pickAccount(page, stack, entra.adele);

  await page.waitForURL((u) => u.pathname === '/my/dashboard');
  assert.equal(await text(page, 'h1'), 'Welcome, Adele');
  assert.equal(await text(page, '.me .who .name'), 'Adele Vance');
  assert.equal(await text(page, '.me .who .role'), 'Employee');
  assert.equal(await page.getByRole('link', { name: 'Audit log' }).count(), 0, 'an employee sees no admin area');
  await screenshot(page, 'my-dashboard');
  await context.close();
});

test('the super-admin sees "User signed in with Microsoft SSO" in Admin → Audit log and the new user in Admin → Users', async () => {
  const { page } = admin;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  const signIn = page.locator('#audit tbody tr', { hasText: 'User signed in with Microsoft SSO' });
  assert.equal(await signIn.count(), 1);
  assert.match(await text(page, '#audit tbody tr:has-text("User signed in with Microsoft SSO")'), /adele\.vance@acme\.test/);
  await screenshot(page, 'audit-log');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  const row = page.locator(`#users tr[data-email="${entra.adele}"]`);
  await row.waitFor();
  const cells = (await row.innerText()).replace(/\s+/g, ' ');
  assert.match(cells, /Adele Vance/);
  assert.match(cells, /Active/);
  assert.equal(await row.getByRole('combobox', { name: `Role of ${entra.adele}` }).inputValue(), 'employee');

  // The card's checklist now knows the redirect URI and the permissions work.
  await page.goto('/admin/settings/integrations/microsoft');
  assert.equal(await page.locator('#checklist-redirect').getAttribute('data-done'), 'true');
  assert.equal(await page.locator('#checklist-permissions').getAttribute('data-done'), 'true');
  assert.notEqual(await text(page, '#health-success'), 'Never');
});
