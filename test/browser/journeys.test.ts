/**
 * Journeys 1 and 2 in a real browser against the real local platform: sign in, the progress page,
 * Jupyter in the iframe running a cell over the gate's WebSocket, and workspaces kept apart.
 * Saves the README's screenshots under docs/screenshots/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startTestRuntime, type TestRuntime } from '../support/local-runtime.js';

const SHOTS = 'docs/screenshots';

describe('browser: the researcher journeys', { timeout: 240_000 }, () => {
  let t: TestRuntime;
  let browser: Browser;
  const desk = () => `http://app.localhost:${t.port}`;

  before(async () => {
    t = await startTestRuntime();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signIn(page: Page, username: string, path: string) {
    await page.goto(`${desk()}${path}`);
    await page.waitForURL(/\/sign-in/);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${desk()}${path}`);
  }

  it('journey 1: alice opens /a/demo, watches the progress, and runs a cell in Jupyter in the iframe', async () => {
    // Prepare
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();

    // Act: sign in and land on the workspace page
    await signIn(page, 'alice', '/a/demo');

    // Assess: named progress steps, then the tool in an iframe from its own host
    const steps = page.getByTestId('progress-step');
    await steps.first().waitFor();
    const labels = await steps.allTextContents();
    assert.ok(labels.some((l) => /Reserving|Resuming/.test(l)), labels.join());
    assert.ok(labels.some((l) => /Starting Jupyter/.test(l)), labels.join());
    assert.ok(labels.some((l) => /Connecting/.test(l)), labels.join());
    await page.screenshot({ path: `${SHOTS}/progress.png` });

    const frameElement = page.getByTestId('workspace-frame');
    await frameElement.waitFor({ timeout: 60_000 });
    const src = await frameElement.getAttribute('src');
    assert.match(src ?? '', /^http:\/\/ws-[a-z0-9]{16}\.app\.localhost:\d+\/$/);
    await page.getByTestId('workspace-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 30_000 });
    const frame = page.frameLocator('[data-testid="workspace-frame"]');
    await frame.locator('#notebook_list, #tabs').first().waitFor({ timeout: 30_000 });

    // Act: make a notebook and run 1+1 in it, inside the iframe
    const tool = page.frames().find((f) => f.url().startsWith(src ?? '-'));
    assert.ok(tool, 'the iframe holds the workspace host');
    const created = await tool.evaluate(async () => {
      const response = await fetch('/api/contents', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'notebook' }) });
      return { status: response.status, body: await response.json() };
    });
    assert.equal(created.status, 201);
    await tool.goto(new URL(`/notebooks/${created.body.path}`, src ?? '').toString());
    await frame.locator('.CodeMirror').first().click();
    await page.keyboard.type('1+1');
    await page.keyboard.press('Shift+Enter');

    // Assess: the kernel answered over the WebSocket through the gate
    await frame.locator('.output_result').filter({ hasText: '2' }).first().waitFor({ timeout: 60_000 });
    await page.screenshot({ path: `${SHOTS}/jupyter.png` });
    await context.close();
  });

  it('journey 2: workspaces are per researcher; other hosts and analyses say "not allowed"', async () => {
    // Prepare: alice's workspace is running
    const alice = await browser.newContext();
    const alicePage = await alice.newPage();
    await signIn(alicePage, 'alice', '/a/demo');
    const aliceFrame = alicePage.getByTestId('workspace-frame');
    await aliceFrame.waitFor({ timeout: 60_000 });
    const aliceUrl = (await aliceFrame.getAttribute('src')) ?? '';

    // Act: bob opens the same analysis, then alice's workspace host
    const bob = await browser.newContext();
    const bobPage = await bob.newPage();
    await signIn(bobPage, 'bob', '/a/demo');
    const bobFrame = bobPage.getByTestId('workspace-frame');
    await bobFrame.waitFor({ timeout: 60_000 });
    const bobUrl = (await bobFrame.getAttribute('src')) ?? '';
    const refused = await bobPage.goto(aliceUrl);

    // Assess: bob has his own workspace; alice's host refuses him with a clear page
    assert.notEqual(bobUrl, aliceUrl);
    assert.equal(refused?.status(), 403);
    assert.match(await bobPage.locator('body').innerText(), /not allowed|expired|not signed in/i);

    // Act: alice opens an analysis she is not on
    await alicePage.goto(`${desk()}/a/census-2021`);

    // Assess
    await alicePage.getByTestId('not-allowed').waitFor();
    assert.match(await alicePage.getByTestId('not-allowed').innerText(), /not allowed/i);
    await alice.close();
    await bob.close();
  });
});
