/**
 * Journeys 3 and 4 in a real browser: the idle countdown with "Keep working", the idle stop and a
 * resume with the same home; and a tool that fails to start, shown with "Try again".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startTestRuntime, type TestRuntime } from '../support/local-runtime.js';

async function signIn(page: Page, desk: string, username: string, path: string) {
  await page.goto(`${desk}${path}`);
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${desk}${path}`);
}

describe('browser: idle countdown, idle stop and resume', { timeout: 240_000 }, () => {
  let t: TestRuntime;
  let browser: Browser;
  before(async () => {
    // A short idle policy: stop after 12 s without activity, warn 8 s before; housekeeping every second.
    t = await startTestRuntime({
      CARREL_IDLE_TIMEOUT_SECONDS: '12',
      CARREL_IDLE_WARNING_SECONDS: '8',
      CARREL_HEARTBEAT_SECONDS: '2',
      CARREL_HOUSEKEEPING_SECONDS: '1',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('warns before the idle stop, "Keep working" extends it, then stops and resumes with the same home', async () => {
    // Prepare: alice has a ready workspace with a file in it, and leaves the page alone
    const desk = `http://app.localhost:${t.port}`;
    const page = await (await browser.newContext()).newPage();
    await signIn(page, desk, 'alice', '/a/demo');
    const frame = page.getByTestId('workspace-frame');
    await frame.waitFor({ timeout: 60_000 });
    const firstSrc = (await frame.getAttribute('src')) ?? '-';
    await page.getByTestId('workspace-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 30_000 });
    const tool = page.frames().find((f) => f.url().startsWith(firstSrc))!;
    const saved = await tool.evaluate(async () => {
      const response = await fetch('/api/contents/notes.txt', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'file', format: 'text', content: 'still here' }),
      });
      return response.status;
    });
    assert.ok(saved === 200 || saved === 201);

    // Act: no presence → the countdown appears
    const countdown = page.getByTestId('idle-countdown');
    await countdown.waitFor({ timeout: 30_000 });
    // Assess: it counts down in m:ss
    assert.match(await countdown.innerText(), /will stop in \d+:\d\d/);

    // Act: keep working
    await page.getByTestId('keep-working').click();
    // Assess: the banner goes away and the workspace stays ready
    await countdown.waitFor({ state: 'hidden', timeout: 10_000 });
    const view = await page.evaluate(async () => (await fetch('/api/workspaces/demo')).json());
    assert.equal(view.state, 'ready');

    // Act: leave it alone until housekeeping stops it
    const stopped = page.getByTestId('workspace-stopped');
    await stopped.waitFor({ timeout: 60_000 });
    // Assess: the page says why
    assert.match(await stopped.innerText(), /idle/i);

    // Act: resume
    await page.getByTestId('resume').click();
    await page.getByTestId('workspace-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 60_000 });

    // Assess: the same home, through the new host
    const src = (await page.getByTestId('workspace-frame').getAttribute('src')) ?? '';
    const resumed = page.frames().find((f) => f.url().startsWith(src))!;
    const content = await resumed.evaluate(async () => (await (await fetch('/api/contents/notes.txt?content=1')).json()).content);
    assert.equal(content, 'still here');
  });
});

describe('browser: a tool that fails to start', { timeout: 120_000 }, () => {
  let t: TestRuntime;
  let browser: Browser;
  before(async () => {
    t = await startTestRuntime({ CARREL_JUPYTER_COMMAND: '/bin/false' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows what failed with "Try again", and leaves nothing running', async () => {
    // Prepare
    const desk = `http://app.localhost:${t.port}`;
    const page = await (await browser.newContext()).newPage();

    // Act
    await signIn(page, desk, 'alice', '/a/demo');
    const failed = page.getByTestId('workspace-failed');
    await failed.waitFor({ timeout: 60_000 });

    // Assess: the reason names the tool; a retry button; no instance left
    assert.match(await page.getByTestId('failure-reason').innerText(), /Jupyter/);
    await page.screenshot({ path: 'docs/screenshots/failed.png' });
    const left = await t.runtime.compute.listTagged();
    assert.equal(left.filter((i) => i.state === 'running' || i.state === 'pending').length, 0);

    // Act: try again (it fails again the same way, through a fresh launch)
    const before = (await page.evaluate(async () => (await fetch('/api/workspaces/demo')).json())).stateEnteredAt;
    await page.getByTestId('try-again').click();
    await page.waitForFunction(
      async (previous) => {
        const v = await (await fetch('/api/workspaces/demo')).json();
        return v.state === 'failed' && v.stateEnteredAt !== previous;
      },
      before,
      { timeout: 30_000, polling: 250 },
    );
    // Assess
    await failed.waitFor();
  });
});
