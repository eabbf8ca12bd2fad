// My → Profile: Microsoft Graph gives no usable photo, so people upload one (guide, "What you get").

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
import { squarePng } from '../lib/png.mjs';
import { entra } from '../lib/stack.mjs';

let stack;
let browser;

before(async () => {
  ({ stack, browser } = await startStackAndBrowser());
  const admin = await privateWindow(browser, stack);
  await configureMicrosoft(admin.page, stack);
  await admin.context.close();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('an employee signed in with Microsoft uploads an avatar under My → Profile and sees it in the header', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await signInWithMicrosoft(page, stack, entra.megan);
  assert.equal(new URL(page.url()).pathname, '/my/dashboard');
  assert.equal(await text(page, '.me .avatar.initials'), 'MB', 'initials until a picture is uploaded');
  assert.equal(await page.locator('.me img.avatar').count(), 0);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profile' }).click();
  await page.getByRole('heading', { name: 'Profile', level: 1 }).waitFor();
  await page.getByLabel('Upload a picture').setInputFiles({
    name: 'megan.png',
    mimeType: 'image/png',
    buffer: squarePng(),
  });
  await page.getByRole('button', { name: 'Upload picture' }).click();
  await page.locator('[role="status"]').waitFor();

  const header = page.locator('.me img.avatar');
  await header.waitFor();
  const src = await header.getAttribute('src');
  assert.match(src, /^\/avatars\/.+\.png$/);
  // The browser actually loaded the re-encoded picture (256×256), not a broken image.
  await page.waitForFunction(() => {
    const img = document.querySelector('.me img.avatar');
    return img.complete && img.naturalWidth > 0;
  });
  assert.equal(await header.evaluate((img) => img.naturalWidth), 256);
  assert.equal(await page.locator('.me .avatar.initials').count(), 0);
  await screenshot(page, 'my-profile');

  // Every page's header shows it, not just the profile.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('heading', { name: 'Welcome, Megan' }).waitFor();
  assert.equal(await page.locator('.me img.avatar').getAttribute('src'), src);
  await context.close();
});
