// Keyboard only: the sign-in page (password and Microsoft) and the Microsoft Entra ID card are
// completed with Tab, Space and Enter, every stop shows its focus, and every field has a visible
// label that is also its accessible name (checked against Playwright's ARIA snapshot).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  GUIDE_CARD,
  privateWindow,
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

/**
 * The focused element: its id or text, and whether its focus is visible — a focus outline is
 * drawn (the product's `:focus-visible` style, or Chromium's own ring on other sites).
 */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const name = (el.getAttribute('aria-label') || el.textContent || '').replace(/\s+/g, ' ').trim();
    const style = getComputedStyle(el);
    const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    return {
      id: el.id,
      tag: el.tagName.toLowerCase(),
      name,
      visible: el !== document.body && outlined,
    };
  });
}

/**
 * Presses Tab until `matches(focused)` (at most `max` times); every stop on the way must show
 * its focus. Returns the stops, for asserting the order.
 */
async function tabUntil(page, matches, max = 40) {
  const stops = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    assert.ok(f.visible, `focus is visible on ${JSON.stringify(f)}`);
    stops.push(f);
    if (matches(f)) return stops;
  }
  assert.fail(`not reached within ${max} Tab presses; stops: ${stops.map((s) => s.id || s.name).join(' → ')}`);
}

const byId = (id) => (f) => f.id === id;

/**
 * Every field in `scope` has a <label for> that is visible on screen, and the ARIA snapshot
 * names the field with exactly that label's text.
 */
async function assertEveryFieldHasAVisibleLabel(page, scope) {
  const snapshot = await page.locator(scope).ariaSnapshot();
  const fields = page.locator(`${scope} input:not([type="hidden"]), ${scope} select, ${scope} textarea`);
  const count = await fields.count();
  assert.ok(count > 0, `fields in ${scope}`);
  for (let i = 0; i < count; i++) {
    const field = fields.nth(i);
    const { id, role } = await field.evaluate((el) => ({
      id: el.id,
      role:
        el.type === 'checkbox' ? 'checkbox' : el.tagName === 'SELECT' ? 'combobox' : el.type === 'file' ? 'button' : 'textbox',
    }));
    assert.ok(id, `a field in ${scope} has no id, so no <label for>`);
    const label = page.locator(`label[for="${id}"]`);
    assert.equal(await label.count(), 1, `#${id} has one label`);
    assert.ok(await label.isVisible(), `the label of #${id} is visible`);
    const box = await label.boundingBox();
    assert.ok(box.width > 10 && box.height > 10, `the label of #${id} is on screen, not visually hidden`);
    const name = (await label.innerText()).replace(/\s+/g, ' ').trim();
    assert.ok(
      snapshot.includes(`- ${role} "${name}"`),
      `#${id}: expected ${role} "${name}" in the accessibility snapshot:\n${snapshot}`,
    );
  }
  return count;
}

test('the sign-in page is completed with Tab and Enter, and its fields have visible labels', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  assert.equal(await assertEveryFieldHasAVisibleLabel(page, 'main form'), 2);

  const stops = await tabUntil(page, byId('email'));
  assert.deepEqual(
    stops.map((s) => s.name || s.id),
    ['Skip to content', 'email'],
  );
  await page.keyboard.type(stack.admin.email);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'password');
  await page.keyboard.type(stack.admin.password);
  await Promise.all([page.waitForURL((u) => u.pathname === '/admin/dashboard'), page.keyboard.press('Enter')]);
  await context.close();
});

test('the Microsoft Entra ID card is completed with Tab, Space and Enter, and its fields have visible labels', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await signInWithPassword(page, stack.admin.email, stack.admin.password);
  await page.goto('/admin/settings/integrations/microsoft');
  // Eight credentials and domain fields, and the role mapping's text box and two boxes.
  assert.equal(await assertEveryFieldHasAVisibleLabel(page, 'form.settings-form'), 11);

  // From the top of the page: skip link, navigation, the checklist's Copy buttons, Test connection…
  await tabUntil(page, byId('ms-enabled'));
  await page.keyboard.press('Space');
  assert.equal(await page.locator('#ms-enabled').isChecked(), true);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'ms-tenant');
  await page.keyboard.type(GUIDE_CARD.tenant);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'ms-client');
  await page.keyboard.type(GUIDE_CARD.clientId);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'ms-secret');
  await page.keyboard.type(GUIDE_CARD.secret);
  // Past the optional expiry date and redirect URI, the read-only URI and its Copy button.
  const stops = await tabUntil(page, byId('ms-domains'));
  assert.ok(stops.some((s) => s.id === 'ms-redirect'));
  assert.ok(stops.some((s) => s.tag === 'button' && s.name === 'Copy'));
  await page.keyboard.type(GUIDE_CARD.domains);
  await page.keyboard.press('Enter');

  await page.locator('#card-notice').waitFor();
  assert.equal(await text(page, '#card-notice'), 'Saved. The Continue with Microsoft button appears on /login immediately.');
  assert.equal(await page.locator('#card-status').getAttribute('data-status'), 'on');
  await context.close();
});

test('Continue with Microsoft and the account picker work with Tab and Enter alone', async () => {
  const { context, page } = await privateWindow(browser, stack);
  await page.goto('/login');
  const stops = await tabUntil(page, (f) => f.name === 'Continue with Microsoft');
  assert.deepEqual(
    stops.map((s) => s.name),
    ['Skip to content', 'Continue with Microsoft'],
  );
  await Promise.all([page.waitForURL((u) => u.href.startsWith(stack.authority)), page.keyboard.press('Enter')]);
  await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
  await tabUntil(page, (f) => f.tag === 'button' && f.name.includes(entra.adele), 10);
  await Promise.all([page.waitForURL((u) => u.pathname === '/my/dashboard'), page.keyboard.press('Enter')]);
  assert.equal(await text(page, 'h1'), 'Welcome, Adele');
  await context.close();
});
