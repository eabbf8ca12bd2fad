// Where people land, and the allowlist: a returning admin lands on Admin → Dashboard; an
// employee whose domain is outside the allowlist is refused until the admin flags them external.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  configureMicrosoft,
  privateWindow,
  screenshot,
  signInWithMicrosoft,
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

/** Admin → Users → Invite a user, as the super-admin. */
async function invite(email, { role = 'employee', external = false } = {}) {
  const { page } = admin;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Role', { exact: true }).selectOption(role);
  await page.getByLabel('External collaborator').setChecked(external);
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.locator(`#users tr[data-email="${email}"]`).waitFor();
}

test('an invited admin is matched on first sign-in and, returning, lands on Admin → Dashboard', async () => {
  await invite(entra.alex, { role: 'admin' });
  for (const visit of ['first', 'returning']) {
    const { context, page } = await privateWindow(browser, stack);
    await signInWithMicrosoft(page, stack, entra.alex);
    assert.equal(new URL(page.url()).pathname, '/admin/dashboard', `${visit} visit`);
    assert.equal(await text(page, 'h1'), 'Admin dashboard');
    assert.equal(await text(page, '.me .who .name'), 'Alex Wilber');
    assert.equal(await text(page, '.me .who .role'), 'Admin');
    if (visit === 'returning') {
      assert.equal(await text(page, '#sign-ins-7d'), '3', 'the super-admin and Alex twice');
      await screenshot(page, 'admin-dashboard');
    }
    await context.close();
  }
});

test('an employee outside the allowed domains is refused, and admitted once the admin flags them external', async () => {
  const RESTRICTED = 'Access restricted. Ask your workspace admin to invite you first.';
  const attempt = async () => {
    const { context, page } = await privateWindow(browser, stack);
    await signInWithMicrosoft(page, stack, entra.sam);
    return { context, page };
  };

  let sam = await attempt();
  assert.equal(await text(sam.page, '[role="alert"]'), RESTRICTED);
  assert.equal(await sam.page.getByRole('button', { name: 'Sign out' }).count(), 0, 'not signed in');
  await sam.context.close();

  // Invited, but still outside the allowlist: the domain check still applies.
  await invite(entra.sam);
  sam = await attempt();
  assert.equal(await text(sam.page, '[role="alert"]'), RESTRICTED);
  await sam.context.close();

  // Admin → Users → Flag external on Sam's row.
  const row = admin.page.locator(`#users tr[data-email="${entra.sam}"]`);
  await row.getByRole('button', { name: 'Flag external' }).click();
  await admin.page.locator(`#users tr[data-email="${entra.sam}"]`).getByRole('button', { name: 'Make internal' }).waitFor();

  sam = await attempt();
  assert.equal(new URL(sam.page.url()).pathname, '/my/dashboard');
  assert.equal(await text(sam.page, 'h1'), 'Welcome, Sam');
  assert.match(await text(sam.page, '.facts'), /Access External collaborator/);
  await sam.context.close();
});
