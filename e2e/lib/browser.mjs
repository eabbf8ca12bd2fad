// Debian's Chromium driven by playwright-core, kept off the internet, plus the steps the
// walks share: password sign-in, the Microsoft round-trip through the emulator's picker,
// the settings card, screenshots.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { REPO_ROOT, entra, startStack } from './stack.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');
const VIEWPORT = { width: 1200, height: 800 };

/**
 * Chromium without background traffic. `launch()` gives each run a new, empty user-data
 * dir (a fresh temporary profile, removed on close), and every context is a private window.
 */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh stack and a browser, started side by side. If either fails, the other is stopped
 * before the error is thrown, so a failed set-up never leaves a process keeping the run alive.
 */
export async function startStackAndBrowser() {
  const started = {};
  const results = await Promise.allSettled([
    startStack().then((s) => (started.stack = s)),
    launchBrowser().then((b) => (started.browser = b)),
  ]);
  const failure = results.find((r) => r.status === 'rejected');
  if (failure) {
    await started.browser?.close();
    await started.stack?.stop();
    throw failure.reason;
  }
  return started;
}

/** A private window on the stack's workspace. */
export async function privateWindow(browser, stack, { clipboard = false } = {}) {
  const context = await browser.newContext({
    viewport: VIEWPORT,
    baseURL: stack.origin('acme'),
    reducedMotion: 'reduce',
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  if (clipboard) {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.origin('acme') });
  }
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  // The window a person is looking at has the focus, even if an earlier one was left open.
  await page.bringToFront();
  return { context, page };
}

/** `/login` → Email, Password → Sign in; waits for the landing page. */
export async function signInWithPassword(page, email, password) {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.getByRole('button', { name: 'Sign in' }).click()]);
}

/** On the emulator's "Pick an account" page: waits for it, then picks `upn`. */
export async function pickAccount(page, stack, upn) {
  await page.waitForURL((u) => u.href.startsWith(stack.authority));
  await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(stack.origin('acme'))),
    page.locator('button.account', { hasText: upn }).click(),
  ]);
}

/** `/login` → Continue with Microsoft → pick `upn`; resolves on OnTrackio's answer. */
export async function signInWithMicrosoft(page, stack, upn) {
  await page.goto('/login');
  await page.getByRole('link', { name: 'Continue with Microsoft' }).click();
  await pickAccount(page, stack, upn);
  await page.waitForLoadState();
}

/** Admin → Settings → Integrations → Microsoft Entra ID, by the links a person clicks. */
export async function openMicrosoftCard(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  await page.locator('#card-microsoft').getByRole('link', { name: 'Microsoft Entra ID' }).click();
  await page.getByRole('heading', { name: 'Microsoft Entra ID', level: 1 }).waitFor();
}

/** Fills the card's fields (those given) and saves; returns the confirmation's text. */
export async function saveCard(page, fields) {
  const { enabled, tenant, clientId, secret, redirectUri, domains } = fields;
  if (enabled !== undefined) await page.getByLabel('Enable Microsoft SSO').setChecked(enabled);
  if (tenant !== undefined) await page.getByLabel('Directory (tenant) ID').fill(tenant);
  if (clientId !== undefined) await page.getByLabel('Application (client) ID').fill(clientId);
  if (secret !== undefined) await page.getByLabel('Client secret value').fill(secret);
  if (redirectUri !== undefined) await page.getByLabel('Redirect URI (optional)', { exact: true }).fill(redirectUri);
  if (domains !== undefined) await page.getByLabel('Allowed email domains').fill(domains);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const notice = page.locator('#card-notice');
  await notice.waitFor();
  return (await notice.textContent()).trim();
}

/** The card as the guide's Step 5 fills it for the emulator's OnTrackio ITAM app. */
export const GUIDE_CARD = {
  enabled: true,
  tenant: 'common',
  clientId: entra.clientId,
  secret: entra.clientSecret,
  domains: 'acme.test',
};

/** Signs in as the super-admin and saves the card; leaves the page on the card. */
export async function configureMicrosoft(page, stack, fields = GUIDE_CARD) {
  await signInWithPassword(page, stack.admin.email, stack.admin.password);
  await openMicrosoftCard(page);
  const notice = await saveCard(page, fields);
  assert.match(notice, /^Saved\./);
}

/** The visible text of the first element matching `selector`, whitespace collapsed. */
export async function text(page, selector) {
  const t = await page.locator(selector).first().innerText();
  return t.replace(/\s+/g, ' ').trim();
}

/** Writes `docs/screenshots/<name>.png` from the current code. */
export async function screenshot(target, name, options = {}) {
  await fs.mkdir(SCREENSHOTS, { recursive: true });
  await target.screenshot({
    path: path.join(SCREENSHOTS, `${name}.png`),
    animations: 'disabled',
    caret: 'hide',
    ...options,
  });
}

/**
 * Writes `docs/screenshots/<name>.png` of the page from the top of `from` to the bottom of
 * `to` (full width, 16px of margin), so long pages stay small.
 */
export async function screenshotRegion(page, name, from, to, { includeHeader = false } = {}) {
  const clip = await page.evaluate(
    ([a, b, header]) => {
      const top = header ? 0 : document.querySelector(a).getBoundingClientRect().top + window.scrollY - 16;
      const bottom = document.querySelector(b).getBoundingClientRect().bottom + window.scrollY + 16;
      return { x: 0, y: Math.max(0, top), width: document.documentElement.clientWidth, height: bottom - Math.max(0, top) };
    },
    [from, to, includeHeader],
  );
  await screenshot(page, name, { fullPage: true, clip });
}
