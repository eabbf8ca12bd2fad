// The guide's Troubleshooting rows, reproduced in a browser: the missing button, the lost
// flow cookie, the lapsed client secret.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  configureMicrosoft,
  pickAccount,
  privateWindow,
  saveCard,
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

async function loginHasMicrosoftButton() {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in to Acme Corporation' }).waitFor();
  const count = await page.getByRole('link', { name: 'Continue with Microsoft' }).count();
  await context.close();
  return count === 1;
}

test('with Enable Microsoft SSO off the button is missing on /login, and back at once when it is on again', async () => {
  assert.equal(await loginHasMicrosoftButton(), true);
  const off = await saveCard(admin.page, { enabled: false });
  assert.equal(
    off,
    'Saved. Microsoft sign-in is off: the Continue with Microsoft button is hidden on /login, and the credentials are kept.',
  );
  assert.equal(await loginHasMicrosoftButton(), false);
  await saveCard(admin.page, { enabled: true });
  assert.equal(await loginHasMicrosoftButton(), true);
});

test('deleting the flow cookie mid-flow ends on "Session expired. Please try again."', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  await page.getByRole('link', { name: 'Continue with Microsoft' }).click();
  await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
  const flow = (await context.cookies(stack.url('/auth/microsoft/callback'))).filter((c) => c.name === 'ontrackio_msflow');
  assert.equal(flow.length, 1, 'the flow cookie is set while the user is at Microsoft');
  await context.clearCookies({ name: 'ontrackio_msflow' });

  await pickAccount(page, stack, entra.adele);
  await page.waitForLoadState();
  assert.equal(new URL(page.url()).pathname, '/auth/microsoft/callback');
  assert.equal(await text(page, '[role="alert"]'), 'Session expired. Please try again.');
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0, 'not signed in');
  await context.close();
});

test('a lapsed client secret shows the AADSTS7000222 page and the card and dashboard report it', async () => {
  await saveCard(admin.page, { clientId: entra.lapsedClientId, secret: entra.lapsedClientSecret });

  const { context, page } = await privateWindow(browser, stack);
  await signInWithMicrosoft(page, stack, entra.adele);
  assert.equal(await text(page, '#aadsts-code'), 'AADSTS7000222');
  assert.match(await text(page, 'h1'), /secret/i);
  assert.equal(await page.getByRole('link', { name: 'Back to sign-in' }).count(), 1);
  await screenshot(page, 'error-expired-secret', { fullPage: true });
  await context.close();

  await admin.page.reload();
  assert.match(await text(admin.page, '#health-failure'), /^AADSTS7000222/);
  await admin.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).nth(1).click();
  await admin.page.getByRole('heading', { name: 'Admin dashboard' }).waitFor();
  assert.match(await text(admin.page, '#warning-sign-ins-failing'), /AADSTS7000222/);
});
